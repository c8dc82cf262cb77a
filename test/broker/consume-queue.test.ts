import t from 'tap';
import { ConsumeQueue, SLOT_RADIX } from '../../src/broker/consume-queue.ts';
import { AssertionError } from '../../src/raft/assert.ts';

t.test('a batch gets consecutive queue offsets pointing at its slots', async (t) => {
  const cq = new ConsumeQueue();
  t.equal(cq.minOffset, 0);
  t.equal(cq.maxOffset, 0);
  t.equal(cq.lookup(0), undefined);
  t.equal(cq.appendBatch(5, 3), 0);
  t.equal(cq.appendBatch(9, 1), 3);
  t.equal(cq.maxOffset, 4);
  t.same(cq.lookup(0), { logIndex: 5, slot: 0 });
  t.same(cq.lookup(2), { logIndex: 5, slot: 2 });
  t.same(cq.lookup(3), { logIndex: 9, slot: 0 });
  t.equal(cq.lookup(4), undefined);
  t.equal(cq.lookup(-1), undefined);
  t.equal(cq.logIndexAt(1), 5);
  t.equal(cq.slotAt(1), 1);
});

t.test('the index grows past many doublings and keeps every entry', async (t) => {
  const cq = new ConsumeQueue();
  let logIndex = 1;
  let expected = 0;
  let bad = 0;
  while (cq.maxOffset < 100_000) {
    const n = (logIndex % 7) + 1;
    if (cq.appendBatch(logIndex, n) !== expected) bad++;
    expected += n;
    logIndex += 2;
  }
  let o = 0;
  for (let li = 1; li < logIndex; li += 2) {
    for (let s = 0; s < (li % 7) + 1; s++, o++) if (cq.logIndexAt(o) !== li || cq.slotAt(o) !== s) bad++;
  }
  t.equal(bad, 0);
});

t.test('large log indexes and full batches are exact', async (t) => {
  const cq = new ConsumeQueue();
  const big = 2 ** 40 + 3;
  cq.appendBatch(big, SLOT_RADIX);
  t.same(cq.lookup(SLOT_RADIX - 1), { logIndex: big, slot: SLOT_RADIX - 1 });
});

t.test('log indexes must grow; bad input is a programmer error', async (t) => {
  const cq = new ConsumeQueue();
  cq.appendBatch(10, 1);
  t.throws(() => cq.appendBatch(10, 1), AssertionError);
  t.throws(() => cq.appendBatch(9, 1), AssertionError);
  t.throws(() => cq.appendBatch(11, 0), AssertionError);
  t.throws(() => cq.appendBatch(11, SLOT_RADIX + 1), AssertionError);
  t.throws(() => cq.logIndexAt(1), AssertionError);
});

t.test('an encoded range restores into an equal queue', async (t) => {
  const a = new ConsumeQueue();
  for (let i = 1; i <= 50; i++) a.appendBatch(i * 3, (i % 4) + 1);
  const b = new ConsumeQueue();
  b.appendEncoded(0, a.encodeRange(0, 40));
  b.appendEncoded(40, a.encodeRange(40, a.maxOffset));
  t.equal(b.maxOffset, a.maxOffset);
  t.same(Buffer.from(b.encodeRange(0, b.maxOffset)), Buffer.from(a.encodeRange(0, a.maxOffset)));
  t.throws(() => b.appendEncoded(0, a.encodeRange(0, 1)), AssertionError, 'must continue at maxOffset');
  t.throws(() => b.appendEncoded(b.maxOffset, new Uint8Array(7)), AssertionError, 'torn range');
  t.throws(() => b.appendEncoded(b.maxOffset, a.encodeRange(0, 1)), AssertionError, 'entries that go back');
  t.equal(a.encodeRange(5, 5).length, 0);
});

t.test('a batch is one run: memory grows per batch, not per message', async (t) => {
  const cq = new ConsumeQueue();
  for (let i = 1; i <= 1000; i++) cq.appendBatch(i, 64);
  t.equal(cq.size, 64_000);
  t.equal(cq.runCount, 1000, 'one run per batch');
  t.same(cq.lookup(64 * 500 + 7), { logIndex: 501, slot: 7 });
});

t.test('restoring an encoded range rebuilds the runs and reads the same (random batches, printed seed)', async (t) => {
  const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
  t.comment(`seed ${seed} (replay: SEED=${seed} npx tap test/broker/consume-queue.test.ts)`);
  let x = seed || 1;
  const rand = (n: number): number => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % n;
  };
  const a = new ConsumeQueue();
  let logIndex = 1;
  for (let i = 0; i < 500; i++) {
    logIndex += 1 + rand(3);
    a.appendBatch(logIndex, 1 + rand(SLOT_RADIX));
  }
  // Restore in chunks that cut batches anywhere, as checkpoint chunks do.
  const b = new ConsumeQueue();
  let from = 0;
  while (from < a.maxOffset) {
    const to = Math.min(a.maxOffset, from + 1 + rand(5000));
    b.appendEncoded(from, a.encodeRange(from, to));
    from = to;
  }
  t.equal(b.maxOffset, a.maxOffset);
  t.equal(b.runCount, a.runCount, 'same runs after a restore');
  let mismatches = 0;
  for (let o = 0; o < a.maxOffset; o += 1 + rand(7)) {
    const l = a.lookup(o);
    const r = b.lookup(o);
    if (l?.logIndex !== r?.logIndex || l?.slot !== r?.slot) mismatches++;
  }
  t.equal(mismatches, 0, 'every sampled offset reads the same');
  // Random access in any order finds the right run (not only the cached neighbour).
  for (let k = 0; k < 200; k++) {
    const o = rand(a.maxOffset);
    t.equal(a.logIndexAt(o) * SLOT_RADIX + a.slotAt(o), b.logIndexAt(o) * SLOT_RADIX + b.slotAt(o));
  }
});
