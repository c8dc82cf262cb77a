// Snapshot transfer between a master and a follower over a link that drops, repeats, reorders
// and corrupts chunks and acknowledgements, and goes down: the follower's core gets the Snapshot
// message only once every byte is in, and the bytes it installs are the master's.
import t from 'tap';
import fc from 'fast-check';
import { crc32 } from 'node:zlib';
import { SnapshotReceiver, SnapshotSender, SNAPSHOT_CHUNK_BYTES, SNAPSHOT_STALL_MS } from '../../src/broker/index.ts';
import type { PeerSnapAck, PeerSnapChunk } from '../../src/protocol/index.ts';
import { MessageType, type Message } from '../../src/raft/index.ts';

const EMPTY_CONTEXT = new Uint8Array(0);

function snapshotMessage(index: number, term: number): Message {
  return {
    type: MessageType.Snapshot, from: 'n0', to: 'n1', term: 3, index, logTerm: term, commit: index,
    entries: [], reject: false, rejectHint: 0, rejectTerm: 0, transfer: false, recovering: false, context: EMPTY_CONTEXT, conf: null,
  };
}

function bytesOf(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

type Fault = 'drop' | 'dup' | 'corrupt' | 'delay' | 'down' | 'ok';

t.test('over a faulty link the follower gets every byte, CRC-checked, and its core the message once they are in', async (t) => {
  let deliveriesChecked = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 5 * SNAPSHOT_CHUNK_BYTES + 17 }), fc.array(fc.constantFrom<Fault>('drop', 'dup', 'corrupt', 'delay', 'down', 'ok', 'ok', 'ok', 'ok'), { minLength: 1, maxLength: 200 }), (size, faults) => {
      const bytes = bytesOf(size, size);
      const msg = snapshotMessage(500, 7);
      let fault = 0;
      // The link recovers once the faults run out.
      const nextFault = (): Fault => faults[fault++] ?? 'ok';
      const delayed: (() => void)[] = [];
      const reports: boolean[] = [];
      const delivered: Message[] = [];
      let clock = 0;
      const receiver = new SnapshotReceiver({ deliver: (m) => delivered.push(m), log: () => {} });
      let sender: SnapshotSender;
      const ackBack = (ack: PeerSnapAck): void => {
        const f = nextFault();
        if (f === 'drop' || f === 'down') return;
        if (f === 'delay') delayed.push(() => sender.onAck('n1', ack));
        else sender.onAck('n1', ack);
        if (f === 'dup') sender.onAck('n1', ack);
      };
      const deliverChunk = (frame: PeerSnapChunk, data: Uint8Array): void => {
        const answer = receiver.onChunk('n0', frame, data);
        if (typeof answer === 'string') throw new Error(`chunk refused: ${answer}`);
        ackBack(answer);
      };
      sender = new SnapshotSender({
        read: () => bytes,
        sendChunk: (_to, frame, data) => {
          const f = nextFault();
          if (f === 'down') {
            sender.peerDown('n1');
            return false;
          }
          if (f === 'drop') return true;
          const copy = Uint8Array.from(data);
          if (f === 'corrupt' && copy.length > 0) copy[copy.length >> 1] ^= 0x40;
          if (f === 'delay') delayed.push(() => deliverChunk(frame, copy));
          else deliverChunk(frame, copy);
          if (f === 'dup') deliverChunk(frame, copy);
          return true;
        },
        report: (_to, ok) => reports.push(ok),
        log: () => {},
        nowMs: () => clock,
      });
      // The core sends the Snapshot again whenever the transfer is reported failed or stalls.
      sender.send(msg);
      for (let round = 0; round < 2000 && delivered.length === 0; round++) {
        while (delayed.length > 0 && delivered.length === 0) delayed.splice(round % delayed.length, 1)[0]!();
        if (delivered.length > 0) break;
        clock += SNAPSHOT_STALL_MS;
        sender.expire();
        sender.send(msg);
      }
      if (delivered.length === 0) throw new Error('never delivered');
      const got = receiver.take(500, 7);
      if (got === undefined) throw new Error('delivered, but take() has nothing');
      if (Buffer.compare(Buffer.from(got.bytes), Buffer.from(bytes)) !== 0) throw new Error(`the bytes differ (crc ${crc32(got.bytes)} vs ${crc32(bytes)})`);
      if (delivered[0]!.index !== 500 || delivered[0]!.type !== MessageType.Snapshot) throw new Error('a wrong message delivered');
      // Let what is still on the link arrive: the master then learns the follower has it all.
      for (let round = 0; round < 200 && !reports.includes(true); round++) {
        while (delayed.length > 0) delayed.shift()!();
        if (reports.includes(true)) break;
        clock += SNAPSHOT_STALL_MS;
        sender.expire();
        sender.send(msg);
      }
      if (!reports.includes(true)) throw new Error(`the master never learns the transfer ended (reports ${JSON.stringify(reports)})`);
      deliveriesChecked++;
    }),
    { numRuns: 150 },
  );
  t.equal(deliveriesChecked, 150);
});

t.test('a transfer resumes where the follower stopped after a dropped connection, not from the start', async (t) => {
  const bytes = bytesOf(6 * SNAPSHOT_CHUNK_BYTES, 1);
  const receiver = new SnapshotReceiver({ deliver: () => {}, log: () => {} });
  const offsets: number[] = [];
  let room = 3; // the connection drops after three chunks
  const sender: SnapshotSender = new SnapshotSender({
    read: () => bytes,
    sendChunk: (_to, frame, data) => {
      if (room === 0) return false;
      room--;
      offsets.push(frame.offset);
      const ack = receiver.onChunk('n0', frame, data);
      if (typeof ack === 'string') throw new Error(ack);
      queueMicrotask(() => sender.onAck('n1', ack));
      return true;
    },
    report: () => {},
    log: () => {},
  });
  sender.send(snapshotMessage(9, 2));
  await new Promise((r) => setImmediate(r));
  t.same(offsets, [0, 1, 2].map((i) => i * SNAPSHOT_CHUNK_BYTES), 'three chunks went out before the connection dropped');
  sender.peerDown('n1');
  t.equal(receiver.take(9, 2), undefined, 'not complete');
  // Back up; the core sends the Snapshot again.
  room = Infinity;
  offsets.length = 0;
  sender.send(snapshotMessage(9, 2));
  await new Promise((r) => setImmediate(r));
  t.equal(offsets[0], 3 * SNAPSHOT_CHUNK_BYTES, `resumed at the first byte the follower lacks (${offsets.join(', ')})`);
  t.equal(offsets.length, 3);
  t.ok(receiver.take(9, 2) !== undefined, 'and it completes');
});

t.test('a receiver refuses a malformed chunk (the connection closes) and restarts a transfer it does not know at its beginning', async (t) => {
  const receiver = new SnapshotReceiver({ deliver: () => {}, log: () => {} });
  const chunk = (over: Partial<PeerSnapChunk>, data = Uint8Array.of(1, 2, 3)): PeerSnapChunk => ({ type: 'snap', id: 0, msg: snapshotMessage(4, 1), offset: 0, total: 3, crc: crc32(data), ...over });
  t.match(receiver.onChunk('n0', chunk({ msg: { ...snapshotMessage(4, 1), type: MessageType.Append } }), Uint8Array.of(1, 2, 3)), /without its Snapshot message/);
  t.match(receiver.onChunk('n2', chunk({}), Uint8Array.of(1, 2, 3)), /without its Snapshot message/, 'a chunk naming another sender');
  t.match(receiver.onChunk('n0', chunk({ total: 2 }), Uint8Array.of(1, 2, 3)), /past its total/);
  t.match(receiver.onChunk('n0', chunk({ total: 2 ** 40 }), Uint8Array.of(1, 2, 3)), /more than/);
  t.same(receiver.onChunk('n0', chunk({ offset: 1, total: 4 }), Uint8Array.of(2, 3, 4)), { type: 'snapAck', id: 0, index: 4, term: 1, next: 0 }, 'an unknown transfer starts over at 0');
  t.same(receiver.onChunk('n0', chunk({ crc: 1 }), Uint8Array.of(1, 2, 3)), { type: 'snapAck', id: 0, index: 4, term: 1, next: 0 }, 'a chunk failing its CRC is not taken');
  t.equal(receiver.take(4, 1), undefined);
});
