// The pump writes segment data on the main thread (up to 256 KiB per write) or, for a single huge
// batch (over 1 MiB), on libuv's thread pool while later appends are accepted and encoded on the
// main thread. These tests mix both. What must hold with writes in flight: appends resolve in order, an
// ASYNC_FLUSH append only once its bytes are in the file, reads never take unwritten bytes from
// the file, a failed write rejects its append and every later one with no half record left, and
// truncateAfter / close wait for the writes.
import fs from 'node:fs';
import t from 'tap';
import { openCommitLog, type DiskFaults, type LogRecord } from '../../src/commitlog/index.ts';
import { collectLog, dataFiles, recordsFrom, removeDir, sameRecord, tempDir } from './helpers.ts';

const HEADER = 48;

/** The bytes of the segment file [from, from + len). */
function fileBytes(file: string, from: number, len: number): Buffer {
  const fd = fs.openSync(file, 'r');
  const b = Buffer.alloc(len);
  const n = fs.readSync(fd, b, 0, len, from);
  fs.closeSync(fd);
  return b.subarray(0, n);
}

for (const mode of ['ASYNC_FLUSH', 'SYNC_FLUSH'] as const) {
  t.test(`${mode}: pipelined appends resolve in order, each only once its records are in the file`, async (t) => {
    const dir = tempDir('async-order');
    t.teardown(() => removeDir(dir));
    const log = await openCommitLog({ dir, flushDiskType: mode, cacheBytes: 0, flushIntervalMs: 3_600_000 });
    const order: number[] = [];
    const problems: string[] = [];
    const all: Promise<void>[] = [];
    // Every 23rd record is 1.1 MB: its write goes to the thread pool.
    const size = (i: number): number => (i % 23 === 0 ? 1_100_000 : 100 + (i % 7) * 3000);
    let pos = 0;
    const endOf = new Map<number, number>();
    for (let k = 0; k < 200; k++) {
      const first = log.lastIndex() + 1;
      const recs = recordsFrom(first, 1 + (k % 5), 1, size);
      // SYNC_FLUSH starts each append at a block boundary (StoreSettings.alignAppends).
      if (mode === 'SYNC_FLUSH' && pos % 4096 !== 0) pos += 4096 - (pos % 4096);
      for (const r of recs) pos += HEADER + r.data.byteLength;
      endOf.set(k, pos);
      const last = recs[recs.length - 1];
      const lastStart = pos - HEADER - last.data.byteLength;
      all.push(
        log.append(recs).then(() => {
          order.push(k);
          // The last record of this batch is in the file: its header names its index.
          const seg = dataFiles(dir)[0];
          const h = fileBytes(seg, lastStart, HEADER);
          if (h.length < HEADER || h.readUInt32BE(8) * 2 ** 32 + h.readUInt32BE(12) !== last.index) problems.push(`append ${k} resolved before record ${last.index} was written`);
        }),
      );
      if (k % 17 === 0) await new Promise((r) => setImmediate(r)); // let some writes start
    }
    await Promise.all(all);
    t.same(problems, []);
    t.same(order, [...order].sort((a, b) => a - b), 'resolved in call order');
    t.equal(order.length, 200);
    await log.close();
  });
}

t.test('reads while writes are in flight come from memory, never from unwritten file bytes', async (t) => {
  const dir = tempDir('async-read');
  t.teardown(() => removeDir(dir));
  const faults: DiskFaults = { bytesLeft: Infinity, datasyncDelayMs: 0 };
  const log = await openCommitLog({ dir, flushDiskType: 'ASYNC_FLUSH', cacheBytes: 0, flushIntervalMs: 3_600_000, faults });
  const want: LogRecord[] = [];
  const pending: Promise<void>[] = [];
  let reads = 0;
  for (let k = 0; k < 300; k++) {
    const recs = recordsFrom(log.lastIndex() + 1, 4, 1, (i) => (i % 37 === 0 ? 1_100_000 : 500 + (i % 3) * 20_000), k);
    want.push(...recs);
    pending.push(log.append(recs));
    // Every record accepted so far reads back exactly, whether written, in flight or queued. Each
    // read runs to the end (across the tail in flight); 9 in 10 start among the last 64 records,
    // every 10th anywhere: reading most of a 60 MB log 300 times took seconds and proved no more.
    const from = k % 10 === 0 ? 1 + Math.floor((k * 7919) % want.length) : Math.max(1, want.length - ((k * 7919) % 64));
    const got = log.read(from, Infinity);
    reads++;
    if (got.length !== want.length - from + 1 || !got.every((r, m) => sameRecord(r, want[from - 1 + m]))) {
      t.fail(`read(${from}) after append ${k} differs`);
      break;
    }
    if (k % 3 === 0) await new Promise((r) => setImmediate(r));
  }
  await Promise.all(pending);
  t.equal(log.read(1, Infinity).length, want.length);
  t.ok(log.read(1, Infinity).every((r, m) => sameRecord(r, want[m])), `${reads} reads matched`);
  await log.close();
});

t.test('a write failing with appends in flight rejects it and every later one; no half record; usable after', async (t) => {
  for (const budgetAt of [5_000, 200_000, 3_000_001, 7_000_003]) {
    const dir = tempDir('async-fail');
    t.teardown(() => removeDir(dir));
    const faults: DiskFaults = { bytesLeft: Infinity };
    const { lines, log: logFn } = collectLog();
    const log = await openCommitLog({ dir, flushDiskType: 'ASYNC_FLUSH', flushIntervalMs: 3_600_000, faults, cacheBytes: 0, log: logFn });
    faults.bytesLeft = budgetAt;
    const outcomes: ('ok' | 'full' | 'other')[] = [];
    const lastOf: number[] = [];
    const all: Promise<void>[] = [];
    // 8 appenders, each awaiting its own append (as the replica driver and the bench do).
    let issued = 0;
    const appender = async (): Promise<void> => {
      while (issued < 60) {
        const k = issued++;
        // Every 4th batch one record of 1.2 MB (a thread-pool write), the others 5 x 4000 bytes.
        const recs = k % 4 === 3 ? recordsFrom(log.lastIndex() + 1, 1, 1, () => 1_200_000, 3) : recordsFrom(log.lastIndex() + 1, 5, 1, () => 4000, 3);
        lastOf[k] = recs[recs.length - 1].index;
        try {
          await log.append(recs);
          outcomes[k] = 'ok';
        } catch (err) {
          outcomes[k] = (err as { code?: string }).code === 'DISK_FULL' ? 'full' : 'other';
          return;
        }
      }
    };
    for (let a = 0; a < 8; a++) all.push(appender());
    await Promise.all(all);
    const firstFull = outcomes.indexOf('full');
    t.ok(firstFull >= 0, `budget ${budgetAt}: DISK_FULL after ${firstFull} appends`);
    t.notOk(outcomes.includes('other'), 'only DISK_FULL');
    const okCount = outcomes.filter((o) => o === 'ok').length;
    t.ok(outcomes.slice(0, okCount).every((o) => o === 'ok'), 'the resolved appends are a prefix');
    t.equal(log.lastIndex(), okCount === 0 ? 0 : lastOf[okCount - 1], 'the log ends after the last resolved append');
    const written = log.read(1, Infinity).reduce((n, r) => n + HEADER + r.data.byteLength, 0);
    const seg = dataFiles(dir)[0];
    const tail = fileBytes(seg, written, 1024 * 1024);
    t.ok(tail.every((b) => b === 0), 'nothing of the failed writes stays after the last record');
    t.equal(log.read(1, Infinity).length, log.lastIndex());
    t.ok(lines.some((l) => l.level === 'error' && l.msg.includes('write failed')));
    faults.bytesLeft = Infinity;
    const last = log.lastIndex();
    await log.append(recordsFrom(last + 1, 3, 2, () => 4000));
    await log.close();
    const again = await openCommitLog({ dir });
    t.equal(again.lastIndex(), last + 3, 'appends work again once there is space; a reopen agrees');
    t.equal(again.read(1, Infinity).length, last + 3);
    await again.close();
  }
});

t.test('truncateAfter and close with appends and writes in flight', async (t) => {
  const dir = tempDir('async-trunc');
  t.teardown(() => removeDir(dir));
  const log = await openCommitLog({ dir, flushDiskType: 'ASYNC_FLUSH', flushIntervalMs: 3_600_000, segmentBytes: 2 * 1024 * 1024 });
  const all: Promise<void>[] = [];
  for (let k = 0; k < 50; k++) all.push(log.append(recordsFrom(log.lastIndex() + 1, 10, 1, (i) => (i === 300 ? 1_500_000 : 3000))));
  const trunc = log.truncateAfter(123); // waits for every write and the flush, then cuts
  await Promise.all(all);
  await trunc;
  t.equal(log.lastIndex(), 123);
  t.equal(log.read(1, Infinity).length, 123);
  for (let k = 0; k < 20; k++) all.push(log.append(recordsFrom(log.lastIndex() + 1, 10, 2, () => 3000)));
  await log.close(); // waits for the writes in flight
  await Promise.all(all);
  const again = await openCommitLog({ dir, segmentBytes: 2 * 1024 * 1024 });
  t.equal(again.lastIndex(), 323);
  t.equal(again.termAt(124), 2);
  t.equal(again.read(1, Infinity).length, 323);
  await again.close();
});

t.test('SYNC_FLUSH: appends pending at once share one flush round even when they take several writes', async (t) => {
  for (const directIo of [false, true]) {
    const dir = tempDir('async-group');
    t.teardown(() => removeDir(dir));
    const log = await openCommitLog({ dir, directIo });
    const appends: Promise<void>[] = [];
    // ~2.1 MB: 9 page-cache writes of <= 256 KiB, or 3 direct writes of < 1 MiB
    for (let i = 1; i <= 2000; i++) appends.push(log.append(recordsFrom(i, 1, 1, () => 1000)));
    await Promise.all(appends);
    const s = log.stats();
    // writeCalls: page-cache writes, each data write followed by its index write
    const dataWrites = directIo ? s.directWrites : s.writeCalls / 2;
    t.ok(dataWrites >= 3, `directIo ${directIo}: ${dataWrites} data writes`);
    t.equal(s.flushRounds, 1, 'one group commit for everything that was pending');
    await log.close();
  }
});
