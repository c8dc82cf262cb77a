// Replication frames between two real PeerTransports on 127.0.0.1: entry bodies travel as raw
// blobs after the msgpack part and arrive intact; a frame whose blobs do not match its entries
// closes the connection instead of reaching Raft.
import net from 'node:net';
import t from 'tap';
import { PeerTransport, wireMessageProblem } from '../../src/broker/peer-transport.ts';
import { PEER_PROTOCOL_VERSION } from '../../src/broker/protocol.ts';
import { encodeFrame, encodeFrameWithBlobs } from '../../src/net/frame-codec.ts';
import type { Entry, Message } from '../../src/raft/types.ts';
import { EntryType, MessageType } from '../../src/raft/types.ts';
import { freeLocalPorts } from '../../src/net/free-ports.ts';

function message(from: string, to: string, entries: Entry[]): Message {
  return { type: MessageType.Append, from, to, term: 3, index: 7, logTerm: 2, commit: 5, entries, reject: false, rejectHint: 0, rejectTerm: 0, transfer: false };
}

async function pair(t: { teardown(fn: () => unknown): void }) {
  const [pa, pb] = await freeLocalPorts(2);
  const received: Message[][] = [];
  const closed: string[] = [];
  const base = { group: 'g', log: () => undefined, onPeerClientAddr: () => undefined };
  const peers = [
    { id: 'a', host: '127.0.0.1', port: pa! },
    { id: 'b', host: '127.0.0.1', port: pb! },
  ];
  const a = new PeerTransport({ ...base, self: peers[0]!, peers: [peers[1]!], clientAddr: 'x:1', onMessages: () => undefined, onPeerDown: () => undefined });
  const b = new PeerTransport({
    ...base,
    self: peers[1]!,
    peers: [peers[0]!],
    clientAddr: 'x:2',
    onMessages: (m) => received.push(m),
    onPeerDown: (_peer, reason) => closed.push(reason),
  });
  await Promise.all([a.start(), b.start()]);
  t.teardown(async () => {
    await Promise.all([a.close(), b.close()]);
  });
  return { a, b, pb: pb!, received, closed };
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
}

t.test('entries with bodies of any size (empty included) arrive intact, in order', async (t) => {
  const { a, received } = await pair(t);
  const bodies = [Buffer.alloc(0), Buffer.from('x'), Buffer.alloc(70_000, 9), Buffer.alloc(3, 1)];
  const entries: Entry[] = bodies.map((data, i) => ({ index: 8 + i, term: 3, type: i === 0 ? EntryType.NoOp : EntryType.Normal, data }));
  const sent = [message('a', 'b', entries), message('a', 'b', []), message('a', 'b', entries.slice(2))];
  await until(() => {
    a.send('b', sent);
    return received.length > 0;
  });
  const got = received[0]!;
  t.equal(got.length, 3);
  t.same(got.map((m) => m.entries.length), [4, 0, 2]);
  for (let i = 0; i < 4; i++) {
    t.equal(Buffer.compare(Buffer.from(got[0]!.entries[i]!.data), bodies[i]!), 0, `entry ${i} body`);
    t.equal(got[0]!.entries[i]!.index, 8 + i);
    t.equal(got[0]!.entries[i]!.type, entries[i]!.type);
  }
  t.equal(Buffer.compare(Buffer.from(got[2]!.entries[0]!.data), bodies[2]!), 0);
  t.equal(got[0]!.commit, 5);
});

t.test('a raft frame whose blobs do not match its entries closes the connection', async (t) => {
  const { pb, received } = await pair(t);
  for (const [name, sizes, blob] of [
    ['blobs too short', [10], Buffer.alloc(5)],
    ['bytes left over', [2], Buffer.alloc(5)],
    ['negative size', [-1], Buffer.alloc(1)],
  ] as const) {
    const sock = net.connect(pb, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const closedP = new Promise((r) => sock.once('close', r));
    sock.on('error', () => undefined);
    const wireMsg = { ...message('a', 'b', []), entries: sizes.map((size, i) => ({ index: 8 + i, term: 3, type: EntryType.Normal, size })) };
    sock.write(encodeFrame({ type: 'hello', id: 0, protocol: PEER_PROTOCOL_VERSION, group: 'g', nodeId: 'a', clientAddr: 'x:1' }));
    for (const p of encodeFrameWithBlobs({ type: 'raft', id: 0, msgs: [wireMsg] }, [blob])) sock.write(p);
    await closedP;
    t.pass(`${name}: closed`);
  }
  t.equal(received.length, 0, 'nothing reached Raft');
});

t.test('a peer speaking another protocol version is refused at hello', async (t) => {
  const { pb, received } = await pair(t);
  for (const protocol of [undefined, 1, PEER_PROTOCOL_VERSION + 1]) {
    const sock = net.connect(pb, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.on('error', () => undefined);
    const closedP = new Promise((r) => sock.once('close', r));
    sock.write(encodeFrame({ type: 'hello', id: 0, ...(protocol === undefined ? {} : { protocol }), group: 'g', nodeId: 'a', clientAddr: 'x:1' }));
    sock.write(encodeFrame({ type: 'raft', id: 0, msgs: [message('a', 'b', [])] }));
    await closedP;
    t.pass(`protocol ${String(protocol)}: closed`);
  }
  t.equal(received.length, 0, 'nothing reached Raft');
});

t.test('malformed message fields are named, well-formed ones pass', async (t) => {
  const ok = { ...message('a', 'b', []), entries: [{ index: 8, term: 3, type: EntryType.Normal, size: 4 }] } as unknown as Message;
  t.equal(wireMessageProblem(ok), null);
  const bad: [string, object][] = [
    ['unknown type', { type: 'Bogus' }],
    ['term', { term: -1 }],
    ['commit', { commit: 1.5 }],
    ['booleans', { reject: 'no' }],
    ['entries', { entries: 'x' }],
    ['entry 0 is not an object', { entries: [null] }],
    ['bad index', { entries: [{ index: 0, term: 1, type: 0, size: 0 }] }],
    ['unknown type', { entries: [{ index: 1, term: 1, type: 7, size: 0 }] }],
    ['bad size', { entries: [{ index: 1, term: 1, type: 0, size: -2 }] }],
  ];
  for (const [what, patch] of bad) t.match(wireMessageProblem({ ...ok, ...patch } as unknown as Message), new RegExp(what), what);
});
