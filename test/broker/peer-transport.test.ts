// Replication frames between two real PeerTransports on 127.0.0.1: entry bodies travel as raw
// blobs after the msgpack part and arrive intact; a frame whose blobs do not match its entries
// closes the connection instead of reaching Raft.
import net from 'node:net';
import t from 'tap';
import { PeerTransport, messageWireBytes, peerIdsOf, splitIntoFrames, wireMessageProblem } from '../../src/broker/index.ts';
import { PEER_PROTOCOL_VERSION } from '../../src/protocol/index.ts';
import { encodeFrame, encodeFrameWithBlobs, freeLocalPorts } from '../../src/net/index.ts';
import { type Entry, type Message, EntryType, MessageType } from '../../src/raft/index.ts';

const EMPTY_CONTEXT = new Uint8Array(0);

function message(from: string, to: string, entries: Entry[]): Message {
  return { type: MessageType.Append, from, to, term: 3, index: 7, logTerm: 2, commit: 5, entries, reject: false, rejectHint: 0, rejectTerm: 0, transfer: false, recovering: false, context: EMPTY_CONTEXT, conf: null };
}

async function pair(t: { teardown(fn: () => unknown): void }) {
  const [pa, pb] = await freeLocalPorts(2);
  const received: Message[][] = [];
  const closed: string[] = [];
  const base = { group: 'g', log: () => undefined, onPeerClientAddr: () => undefined, onSendFailed: () => undefined };
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
    sock.resume(); // the refusal comes with a notice frame: read it, or the close is never seen
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

t.test('one turn of messages to a peer is split into frames of about the target size, in order; a big message goes alone', async (t) => {
  const entry = (index: number, bytes: number): Entry => ({ index, term: 1, type: EntryType.Normal, data: Buffer.alloc(bytes) });
  const msgs = [message('a', 'b', [entry(1, 600)]), message('a', 'b', [entry(2, 600)]), message('a', 'b', [entry(3, 5000)]), message('a', 'b', []), message('a', 'b', [entry(4, 10)])];
  const frames = splitIntoFrames(msgs, 2000);
  t.same(frames.map((f) => f.length), [2, 1, 2], 'two small, the big one alone, then the rest');
  t.same(frames.flat(), msgs, 'nothing lost or reordered');
  for (const f of frames) {
    const bytes = f.reduce((n, m) => n + messageWireBytes(m), 0);
    t.ok(f.length === 1 || bytes <= 2000, `a frame of ${f.length} messages carries ${bytes} bytes`);
  }
  t.same(splitIntoFrames([], 2000), [], 'no messages, no frames');
});

t.test('a catch-up burst larger than a frame arrives whole, over several frames', async (t) => {
  const { a, received } = await pair(t);
  // 24 appends of 1 MiB: one frame would be over the 16 MiB limit.
  const sent = Array.from({ length: 24 }, (_, i) => message('a', 'b', [{ index: i + 1, term: 1, type: EntryType.Normal, data: Buffer.alloc(1 << 20, i) }]));
  await until(() => {
    a.send('b', [message('a', 'b', [])]);
    return received.length > 0;
  });
  received.length = 0;
  a.send('b', sent); // before frames were split, this threw 'frame of ... bytes exceeds the limit'
  await until(() => received.flat().filter((m) => m.entries.length > 0).length >= 24, 10_000);
  const got = received.flat().filter((m) => m.entries.length > 0);
  t.same(got.map((m) => m.entries[0]!.index), sent.map((m) => m.entries[0]!.index), 'every append, in order');
  t.ok(received.length > 2, `in ${received.length} frames`);
  t.ok(got.every((m, i) => m.entries[0]!.data.byteLength === 1 << 20 && m.entries[0]!.data[0] === i), 'bodies intact');
});

/** Two transports where b's address for a is `bToA` (a typo when it is not a's port). */
async function pairWith(t: { teardown(fn: () => unknown): void }, opts: { bToAPort?: number; bGroup?: string; bExtraPeer?: boolean } = {}) {
  const [pa, pb, unused] = await freeLocalPorts(3);
  const logs: { side: string; level: string; msg: string; fields: unknown }[] = [];
  const events = { aReceived: [] as Message[], bReceived: [] as Message[], aDown: [] as string[], bDown: [] as string[] };
  const log = (side: string) => (level: string, msg: string, fields?: unknown) => logs.push({ side, level, msg, fields });
  const A = { id: 'a', host: '127.0.0.1', port: pa! };
  const B = { id: 'b', host: '127.0.0.1', port: pb! };
  const a = new PeerTransport({
    group: 'g', self: A, peers: [B], clientAddr: 'x:1', log: log('a') as never,
    onMessages: (m) => events.aReceived.push(...m), onPeerDown: (p, r) => events.aDown.push(`${p}: ${r}`), onSendFailed: () => undefined, onPeerClientAddr: () => undefined,
  });
  const b = new PeerTransport({
    group: opts.bGroup ?? 'g', self: B, clientAddr: 'x:2', log: log('b') as never,
    peers: [{ ...A, port: opts.bToAPort === undefined ? pa! : opts.bToAPort === -1 ? unused! : opts.bToAPort }, ...(opts.bExtraPeer ? [{ id: 'c', host: '127.0.0.1', port: unused! }] : [])],
    onMessages: (m) => events.bReceived.push(...m), onPeerDown: (p, r) => events.bDown.push(`${p}: ${r}`), onSendFailed: () => undefined, onPeerClientAddr: () => undefined,
  });
  await Promise.all([a.start(), b.start()]);
  t.teardown(async () => {
    await Promise.all([a.close(), b.close()]);
  });
  return { a, b, logs, events };
}

t.test('a peer that cannot reach us (its address for us is mistyped) still gets our messages, and we get its replies over its connection', async (t) => {
  const { a, b, logs, events } = await pairWith(t, { bToAPort: -1 });
  // a -> b works: a's messages arrive.
  await until(() => {
    a.send('b', [message('a', 'b', [])]);
    return events.bReceived.length > 0;
  });
  t.ok(events.bReceived.length > 0, 'a reaches b');
  const downBefore = events.bDown.length; // before a's connection came, b had no way to a
  // b -> a: b's own connection goes nowhere, so b answers on the connection a opened.
  await until(() => {
    b.send('a', [message('b', 'a', [])]);
    return events.aReceived.length > 0;
  });
  t.ok(events.aReceived.length > 0, 'b reaches a back over a\'s connection');
  await new Promise((r) => setTimeout(r, 600)); // b's connection to its wrong address fails again meanwhile
  t.same(events.bDown.slice(downBefore), [], 'b does not report a as gone while a\'s connection to it is up');
  await until(() => logs.some((l) => l.side === 'a' && /dLegerPeers differ/.test(JSON.stringify(l.fields))), 3000);
  t.ok(logs.some((l) => l.side === 'b' && l.level === 'warn' && /MISCONFIGURED/.test(l.msg)), 'b, seeing a\'s hello, says loudly that the peer lists differ');
  t.ok(logs.some((l) => l.side === 'a' && l.level === 'warn' && /dLegerPeers differ/.test(JSON.stringify(l.fields))), 'and a, told by b, says it too');
});

t.test('a hello of another group is refused with a reason: logged on the receiving side, and told to the refused side', async (t) => {
  const { logs } = await pairWith(t, { bGroup: 'other' });
  await until(() => logs.some((l) => l.side === 'b' && /refused your hello/.test(JSON.stringify(l.fields))) && logs.some((l) => l.side === 'a' && /refused a peer/.test(l.msg)), 3000);
  const refusedHere = logs.find((l) => l.side === 'a' && /refused a peer/.test(l.msg));
  t.ok(refusedHere, 'the receiver logs the refusal at warn');
  t.match(JSON.stringify(refusedHere?.fields), /group/, 'naming the group');
  const toldThere = logs.find((l) => l.side === 'b' && /refused your hello/.test(JSON.stringify(l.fields)));
  t.ok(toldThere, 'the refused side logs why it was refused');
  t.match(JSON.stringify(toldThere?.fields), /dLegerGroup/, 'and what to fix');
});

t.test('replicas whose dLegerPeers name other replicas refuse each other (they would count different majorities), both sides saying why', async (t) => {
  // b lists a third replica c: a majority of b's group (2 of 3) and of a's (2 of 2) are other sets.
  const { a, logs, events } = await pairWith(t, { bExtraPeer: true });
  await until(() => logs.some((l) => l.side === 'a' && /refused a peer/.test(l.msg)) && logs.some((l) => l.side === 'b' && /refused a peer/.test(l.msg)), 3000);
  for (const side of ['a', 'b']) {
    const refused = logs.find((l) => l.side === side && /refused a peer/.test(l.msg));
    t.match(JSON.stringify(refused?.fields), /dLegerPeers name other replicas \(a,b(,c)?; this replica's: a,b(,c)?\)/, `${side} refuses the other's hello, naming both lists`);
  }
  await until(() => logs.some((l) => l.side === 'a' && /refused your hello/.test(JSON.stringify(l.fields))), 3000);
  t.ok(logs.some((l) => l.side === 'a' && /refused your hello/.test(JSON.stringify(l.fields))), 'and the refused side is told why');
  a.send('b', [message('a', 'b', [])]);
  await new Promise((r) => setTimeout(r, 300));
  t.same(events.bReceived, [], 'no Raft message crosses');
});

t.test('peerIdsOf: the sorted ids of a peer list, whatever the addresses', async (t) => {
  t.equal(peerIdsOf('n1-h:2;n0-h:1'), 'n0,n1');
  t.equal(peerIdsOf('n0-10.0.0.1:1;n1-10.0.0.2:9'), peerIdsOf('n1-h:2;n0-h:1'), 'a mistyped address is the same replicas');
  t.not(peerIdsOf('n0-h:1;n1-h:2'), peerIdsOf('n0-h:1;n1-h:2;n2-h:3'));
  t.equal(peerIdsOf('garbage'), '', 'a list without ids names none');
});
