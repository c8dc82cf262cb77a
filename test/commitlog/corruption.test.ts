// Torn tails are cut (and logged); corruption anywhere else is STORE_CORRUPT with file and offset.
// The rule: a bad record at or after the checkpoint's flushed position (never acknowledged under
// SYNC_FLUSH) is a torn tail; a bad record before it, or in an earlier segment, is corruption.
import fs from 'node:fs';
import t from 'tap';
import { openCommitLog, CommitLogError, CommitLogFaults } from '../../src/commitlog/index.ts';
import { collectLog, dataFiles, indexFiles, recordsFrom, removeDir, tempDir } from './helpers.ts';
import { flipByte } from '../helpers/files.ts';

const HEADER = 48;


async function writeLog(dir: string, count: number, size: number, segmentBytes = 1 << 20): Promise<void> {
  const log = await openCommitLog({ dir, segmentBytes });
  await log.append(recordsFrom(1, count, 1, () => size));
  await log.close();
}

t.test('the torn-tail warning counts the bytes written past the cut, not the preallocated zeros', async (t) => {
  const dir = tempDir('torn-prealloc');
  t.teardown(() => removeDir(dir));
  await writeLog(dir, 20, 100, 64 << 20);
  const [seg] = dataFiles(dir);
  const size = fs.statSync(seg).size;
  // As a crash leaves the active segment: records, 3000 bytes of garbage, then the sparse zero
  // rest of the preallocated 64 MiB (more than one scan block of zeros, and data past 1 MiB).
  fs.appendFileSync(seg, Buffer.alloc(3000, 0xee));
  fs.truncateSync(seg, 64 << 20);
  const { lines, log: logFn } = collectLog();
  const log = await openCommitLog({ dir, log: logFn, segmentBytes: 64 << 20 });
  t.teardown(() => log.close());
  t.equal(log.lastIndex(), 20);
  t.match(lines.find((l) => l.msg === 'cut a torn tail')?.fields, { offset: size, bytesCut: 3000 });
});

t.test('a torn tail after the flushed point is cut and logged', async (t) => {
  const dir = tempDir('torn');
  t.teardown(() => removeDir(dir));
  await writeLog(dir, 20, 100);
  const [seg] = dataFiles(dir);
  const size = fs.statSync(seg).size;
  t.equal(size, 20 * (HEADER + 100));
  // A record cut short: the first 70 bytes of a valid record written after the last flush.
  const other = tempDir('torn-src');
  await writeLog(other, 21, 100);
  const whole = fs.readFileSync(dataFiles(other)[0]);
  removeDir(other);
  fs.appendFileSync(seg, whole.subarray(size, size + 70));
  const { lines, log: logFn } = collectLog();
  let log = await openCommitLog({ dir, log: logFn });
  t.equal(log.lastIndex(), 20);
  const cut = lines.find((l) => l.msg === 'cut a torn tail');
  t.ok(cut, 'the cut is logged');
  t.match(cut?.fields, { file: seg, offset: size, bytesCut: 70 });
  const tail = Buffer.alloc(70, 1);
  const fd = fs.openSync(seg, 'r');
  fs.readSync(fd, tail, 0, 70, size);
  fs.closeSync(fd);
  t.ok(tail.every((b) => b === 0), 'the torn bytes are gone (the preallocated file reads zeros there)');
  await log.close();
  t.equal(fs.statSync(seg).size, size, 'the file is cut back');

  // A zeroed tail (the file grew, the data never made it; or a preallocated file's unwritten
  // rest): the clean end of the records, not a torn tail: no warning, nothing lost.
  fs.appendFileSync(seg, Buffer.alloc(4096));
  lines.length = 0;
  log = await openCommitLog({ dir, log: logFn });
  t.equal(log.lastIndex(), 20);
  t.notOk(lines.some((l) => l.level === 'warn'), 'zeros after the last record are not reported');
  t.equal(log.read(1, Infinity).length, 20);
  await log.close();
  t.equal(fs.statSync(seg).size, size, 'the zeros are gone after a clean close');
});

t.test('a record torn at a random byte after a crash is cut (ASYNC_FLUSH, unflushed tail)', async (t) => {
  const dir = tempDir('torn-async');
  t.teardown(() => removeDir(dir));
  const faults = new CommitLogFaults();
  let log = await openCommitLog({ dir, flushDiskType: 'ASYNC_FLUSH', flushIntervalMs: 3_600_000, faults });
  await log.append(recordsFrom(1, 10, 1, () => 200));
  await log.flush();
  await log.append(recordsFrom(11, 5, 1, () => 200));
  const info = await faults.crash();
  t.equal(info.flushedIndex, 10);
  t.equal(info.flushedPos, 10 * 248);
  const seg = info.lastSegmentPath as string;
  fs.truncateSync(seg, 12 * 248 + 100); // record 13 torn in its body
  const { lines, log: logFn } = collectLog();
  log = await openCommitLog({ dir, log: logFn });
  t.equal(log.lastIndex(), 12, 'the whole records before the tear survive');
  t.match(lines.find((l) => l.msg === 'cut a torn tail')?.fields, { offset: 12 * 248, bytesCut: 100 });
  await log.close();
});

t.test('a flipped byte in the middle of a segment is STORE_CORRUPT naming the file and offset', async (t) => {
  const dir = tempDir('flip-mid');
  t.teardown(() => removeDir(dir));
  await writeLog(dir, 50, 100);
  const [seg] = dataFiles(dir);
  flipByte(seg, 19 * 148 + HEADER + 10); // body of record 20
  const err = await openCommitLog({ dir }).then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(err instanceof CommitLogError);
  t.equal((err as CommitLogError).code, 'STORE_CORRUPT');
  t.match((err as Error).message, seg);
  t.match((err as Error).message, `byte offset ${19 * 148}`);
  t.match((err as Error).message, /body CRC mismatch in record 20/);
});

t.test('a flipped header byte in the middle is STORE_CORRUPT too', async (t) => {
  const dir = tempDir('flip-header');
  t.teardown(() => removeDir(dir));
  await writeLog(dir, 50, 100);
  const [seg] = dataFiles(dir);
  flipByte(seg, 30 * 148 + 12); // index field of record 31
  await t.rejects(openCommitLog({ dir }), { code: 'STORE_CORRUPT', message: new RegExp(`${seg} at byte offset ${30 * 148}: header CRC mismatch`) });
});

t.test('a flipped byte in the last record: STORE_CORRUPT if it was flushed, cut if it was not', async (t) => {
  const dir = tempDir('flip-last');
  t.teardown(() => removeDir(dir));
  await writeLog(dir, 10, 100); // closed cleanly: everything flushed
  const [seg] = dataFiles(dir);
  flipByte(seg, 9 * 148 + HEADER + 50);
  await t.rejects(openCommitLog({ dir }), { code: 'STORE_CORRUPT', message: /byte offset 1332: body CRC mismatch in record 10 \(flushed up to position 1480/ });

  const dir2 = tempDir('flip-last-unflushed');
  t.teardown(() => removeDir(dir2));
  const faults = new CommitLogFaults();
  const log = await openCommitLog({ dir: dir2, flushDiskType: 'ASYNC_FLUSH', flushIntervalMs: 3_600_000, faults });
  await log.append(recordsFrom(1, 9, 1, () => 100));
  await log.flush();
  await log.append(recordsFrom(10, 1, 1, () => 100));
  const info = await faults.crash();
  flipByte(info.lastSegmentPath as string, 9 * 148 + HEADER + 50);
  const { lines, log: logFn } = collectLog();
  const reopened = await openCommitLog({ dir: dir2, log: logFn });
  t.equal(reopened.lastIndex(), 9, 'the unflushed bad record is treated as a torn tail');
  t.ok(lines.some((l) => l.msg === 'cut a torn tail'));
  await reopened.close();
});

t.test('reads verify the CRC of records taken from disk', async (t) => {
  const dir = tempDir('flip-read');
  t.teardown(() => removeDir(dir));
  const log = await openCommitLog({ dir, segmentBytes: 4096, cacheBytes: 0 });
  await log.append(recordsFrom(1, 100, 1, () => 100));
  const [seg0] = dataFiles(dir);
  flipByte(seg0, 5 * 148 + HEADER + 1); // record 6, in the first (old) segment
  t.equal(log.read(1, 500).length, 5, 'records before the bad one read fine');
  t.throws(() => log.read(1, Infinity), { code: 'STORE_CORRUPT', message: new RegExp(`${seg0} at byte offset ${5 * 148}: body CRC mismatch in record 6`) });
  t.equal(log.read(30, Infinity).length, 71, 'other segments still read');
  await log.close();
  // Only the last segment is re-verified on open; the bad old segment still fails on read.
  const again = await openCommitLog({ dir, segmentBytes: 4096, cacheBytes: 0 });
  t.throws(() => again.read(6, 1), { code: 'STORE_CORRUPT' });
  await again.close();
});

t.test('a lost or damaged index is rebuilt from the segments', async (t) => {
  const dir = tempDir('index-rebuild');
  t.teardown(() => removeDir(dir));
  await writeLog(dir, 300, 100, 4096);
  for (const f of indexFiles(dir)) fs.rmSync(f);
  const { lines, log: logFn } = collectLog();
  let log = await openCommitLog({ dir, segmentBytes: 4096, log: logFn });
  t.equal(log.lastIndex(), 300);
  t.ok(lines.some((l) => l.msg.startsWith('the index is incomplete')), 'rebuild logged');
  t.equal(log.read(1, Infinity).length, 300);
  await log.close();
  // A damaged entry in the middle of the index (not its tail) is not trusted: the read fails with
  // STORE_CORRUPT naming the index file; removing the index files makes the next open rebuild them.
  const [idx] = indexFiles(dir);
  flipByte(idx, 32 * 150 + 3);
  log = await openCommitLog({ dir, segmentBytes: 4096, log: logFn });
  t.throws(() => log.read(1, Infinity), { code: 'STORE_CORRUPT', message: new RegExp(`${idx} at byte offset ${32 * 150}: index entry CRC mismatch`) });
  await log.close();
  for (const f of indexFiles(dir)) fs.rmSync(f);
  log = await openCommitLog({ dir, segmentBytes: 4096, log: logFn });
  t.equal(log.read(1, Infinity).length, 300, 'reads work after the rebuild');
  await log.close();
});
