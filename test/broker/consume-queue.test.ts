import t from 'tap';
import { ConsumeQueue, CONSUME_QUEUE_CHUNK_ENTRY_COUNT, decodeChunk, SLOT_RADIX } from '../../src/broker/index.ts';
import { AssertionError } from '../../src/util/index.ts';

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
  t.equal(cq.lookup(1)?.logIndex, 5);
  t.equal(cq.lookup(1)?.slot, 1);
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
    for (let s = 0; s < (li % 7) + 1; s++, o++) if (cq.lookup(o)?.logIndex !== li || cq.lookup(o)?.slot !== s) bad++;
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
  t.throws(() => cq.packedAt(1), AssertionError);
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
  // mulberry32 (an LCG in float64 arithmetic loses its low bits and repeats a few dozen values).
  let x = seed >>> 0;
  const rand = (n: number): number => {
    x = (x + 0x6d2b79f5) | 0;
    let y = Math.imul(x ^ (x >>> 15), 1 | x);
    y = (y + Math.imul(y ^ (y >>> 7), 61 | y)) ^ y;
    return ((y ^ (y >>> 14)) >>> 0) % n;
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
    t.equal(a.packedAt(o), b.packedAt(o));
  }
});

// ---- the cold tier ---------------------------------------------------------------------------

/** A cold reader over another queue's entries, chunk by chunk as a checkpoint stores them. */
function coldFrom(ref: ConsumeQueue): { read(chunk: number): Float64Array; reads: number } {
  const decoded = new Map<number, Float64Array>(); // a full chunk of ref never changes
  const reader = {
    reads: 0,
    read(chunk: number): Float64Array {
      reader.reads++;
      const start = chunk * CONSUME_QUEUE_CHUNK_ENTRY_COUNT;
      let entries = decoded.get(chunk);
      if (entries === undefined) {
        entries = decodeChunk(ref.encodeRange(start, start + CONSUME_QUEUE_CHUNK_ENTRY_COUNT), `chunk ${chunk}`);
        decoded.set(chunk, entries);
      }
      return entries;
    },
  };
  return reader;
}

function packedAll(cq: ConsumeQueue): number[] {
  const out: number[] = [];
  for (let o = 0; o < cq.maxOffset; o++) out.push(cq.packedAt(o));
  return out;
}

t.test('freezing drops the runs below a chunk boundary; every offset still reads the same', async (t) => {
  const C = CONSUME_QUEUE_CHUNK_ENTRY_COUNT;
  const ref = new ConsumeQueue();
  const cold = coldFrom(ref);
  const cq = new ConsumeQueue(cold);
  let logIndex = 1;
  const append = (n: number): void => {
    ref.appendBatch(logIndex, n);
    cq.appendBatch(logIndex, n);
    logIndex += 2;
  };
  // Batches of 3 never end on a chunk boundary (4096 % 3 = 1): the freezes split a run.
  while (cq.maxOffset < 5 * C + 100) append(3);
  const highWater = cq.runCapacity;
  t.equal(cq.runCount, ref.runCount);
  cq.freezeBelow(C);
  t.equal(cq.coldEnd, C);
  t.equal(cq.runCount, ref.runCount - Math.floor(C / 3), 'runs below the boundary are gone, the straddling one is split');
  t.same(packedAll(cq), packedAll(ref));
  cq.freezeBelow(4 * C);
  t.ok(cq.runCount <= Math.ceil((cq.maxOffset - 4 * C) / 3), `${cq.runCount} hot runs for ${cq.maxOffset - 4 * C} hot entries`);
  t.ok(cq.runCapacity < highWater && cq.runCapacity <= 4 * cq.runCount, `the run arrays shrink (${highWater} -> ${cq.runCapacity} for ${cq.runCount} runs)`);
  t.same(packedAll(cq), packedAll(ref));
  t.same(Buffer.from(cq.encodeRange(0, cq.maxOffset)), Buffer.from(ref.encodeRange(0, ref.maxOffset)));
  t.same(Buffer.from(cq.encodeRange(C - 5, 4 * C + 5)), Buffer.from(ref.encodeRange(C - 5, 4 * C + 5)), 'a range across the cold end');
  // Appends go on: the growth check needs no cold read.
  const reads = cold.reads;
  append(7);
  t.equal(cold.reads, reads, 'an append reads nothing cold');
  t.throws(() => cq.appendBatch(logIndex - 2, 1), AssertionError, 'log indexes still must grow');
  t.same(cq.lookup(cq.maxOffset - 1), ref.lookup(ref.maxOffset - 1));
  // Everything cold, then appends again.
  while (cq.maxOffset % C !== 0) append(1);
  cq.freezeBelow(cq.maxOffset);
  t.equal(cq.runCount, 0);
  append(5);
  t.equal(cq.runCount, 1);
  t.same(packedAll(cq), packedAll(ref));
});

t.test('freezing refuses anything but a chunk boundary in [coldEnd, maxOffset], and needs a reader', async (t) => {
  const C = CONSUME_QUEUE_CHUNK_ENTRY_COUNT;
  const ref = new ConsumeQueue();
  const cq = new ConsumeQueue(coldFrom(ref));
  for (let i = 1; i <= 3 * C; i++) {
    ref.appendBatch(i, 1);
    cq.appendBatch(i, 1);
  }
  t.throws(() => cq.freezeBelow(C + 1), AssertionError, 'not a boundary');
  t.throws(() => cq.freezeBelow(4 * C), AssertionError, 'past maxOffset');
  cq.freezeBelow(2 * C);
  t.throws(() => cq.freezeBelow(C), AssertionError, 'going back');
  cq.freezeBelow(2 * C);
  t.equal(cq.coldEnd, 2 * C, 'the same boundary again is a no-op');
  t.throws(() => ref.freezeBelow(C), AssertionError, 'no cold reader');
});

t.test('a restore starts cold up to the last full chunk and loads only the tail', async (t) => {
  const C = CONSUME_QUEUE_CHUNK_ENTRY_COUNT;
  const ref = new ConsumeQueue();
  for (let i = 1; ref.maxOffset < 2 * C + 10; i++) ref.appendBatch(i * 2, (i % 9) + 1);
  const cold = coldFrom(ref);
  const cq = new ConsumeQueue(cold);
  const end = 2 * C;
  cq.restoreCold(end, ref.packedAt(end - 1));
  cq.appendEncoded(end, ref.encodeRange(end, ref.maxOffset));
  t.equal(cq.maxOffset, ref.maxOffset);
  t.equal(cq.lastPacked, ref.lastPacked);
  t.ok(cq.runCount <= 11, `only the tail is hot (${cq.runCount} runs)`);
  t.equal(cold.reads, 0, 'nothing cold was read');
  t.same(packedAll(cq), packedAll(ref));
  t.throws(() => new ConsumeQueue(cold).appendEncoded(0, Uint8Array.of(1)), AssertionError);
  const goesBack = new ConsumeQueue(cold);
  goesBack.restoreCold(end, ref.packedAt(end - 1));
  t.throws(() => goesBack.appendEncoded(end, ref.encodeRange(end - 1, end)), AssertionError, 'the tail must continue the cold part');
  t.throws(() => new ConsumeQueue(cold).restoreCold(C + 1, ref.packedAt(C)), AssertionError, 'not a boundary');
  t.throws(() => new ConsumeQueue().restoreCold(C, ref.packedAt(C - 1)), AssertionError, 'no cold reader');
});

t.test('decodeChunk asserts a missing, short or disordered chunk', async (t) => {
  const C = CONSUME_QUEUE_CHUNK_ENTRY_COUNT;
  const ref = new ConsumeQueue();
  for (let i = 1; i <= C; i++) ref.appendBatch(i, 1);
  const bytes = ref.encodeRange(0, C);
  t.same([...decodeChunk(bytes, 'ok')], packedAll(ref));
  t.throws(() => decodeChunk(undefined, 'x'), AssertionError, 'missing');
  t.throws(() => decodeChunk(bytes.subarray(8), 'x'), AssertionError, 'short');
  const swapped = bytes.slice();
  swapped.set(bytes.subarray(0, 8), 8);
  t.throws(() => decodeChunk(swapped, 'x'), AssertionError, 'not increasing');
  const nan = bytes.slice();
  nan.fill(0xff, 16, 24);
  t.throws(() => decodeChunk(nan, 'x'), AssertionError, 'not an entry');
});
