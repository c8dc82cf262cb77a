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
