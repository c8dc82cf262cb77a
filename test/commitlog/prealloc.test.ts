// Sparse preallocation of the active segment: the last segment's file is extended (ftruncate) to
// the full segment length so an append does not change the file size (a cheaper fdatasync). The
// written size is tracked apart from the file length; a roll and a clean close cut the file back
// to its records; recovery treats zeros after the last record as the clean end of the file.
import fs from 'node:fs';
import t from 'tap';
import { openCommitLog, CommitLogFaults } from '../../src/commitlog/index.ts';
import { collectLog, dataFiles, recordsFrom, removeDir, sameRecord, tempDir } from './helpers.ts';

const HEADER = 48;
const SEG = 4096;

/** Written bytes of every segment when records of `sizes` are appended to an empty log. */
function packed(sizes: number[], segmentBytes: number): number[] {
  const out = [0];
  for (const s of sizes) {
    const rec = HEADER + s;
    if (out[out.length - 1] + rec > segmentBytes) out.push(0);
    out[out.length - 1] += rec;
  }
  return out;
}

function isZero(file: string, from: number, len: number): boolean {
  const fd = fs.openSync(file, 'r');
  const b = Buffer.alloc(len);
  const n = fs.readSync(fd, b, 0, len, from);
  fs.closeSync(fd);
  return b.subarray(0, n).every((x) => x === 0);
}

t.test('the active segment is extended to the segment length; rolled and closed segments end at their records', async (t) => {
  const dir = tempDir('prealloc-layout');
  t.teardown(() => removeDir(dir));
  const size = (i: number): number => 50 + ((i * 37) % 400);
  const sizes = Array.from({ length: 100 }, (_, k) => size(k + 1));
  const want = packed(sizes, SEG);
  const log = await openCommitLog({ dir, segmentBytes: SEG });
  await log.append(recordsFrom(1, 100, 1, size));
  let files = dataFiles(dir);
  t.equal(files.length, want.length);
  files.forEach((f, k) => {
    const len = fs.statSync(f).size;
    if (k < files.length - 1) t.equal(len, want[k], `non-last segment ${k} has exactly its written length`);
    else t.equal(len, SEG, 'the active segment is preallocated to segmentBytes');
  });
  t.ok(isZero(files[files.length - 1], want[want.length - 1], SEG - want[want.length - 1]), 'after the records: zeros');
  await log.close();
  files = dataFiles(dir);
  files.forEach((f, k) => t.equal(fs.statSync(f).size, want[k], `after close, segment ${k} ends at its last record`));
  const again = await openCommitLog({ dir, segmentBytes: SEG });
  t.equal(fs.statSync(files[files.length - 1]).size, SEG, 'reopened for appending: extended again');
  t.equal(again.read(1, Infinity).length, 100);
  await again.close();
});

t.test('preallocate: false keeps the file length equal to the written bytes', async (t) => {
  const dir = tempDir('prealloc-off');
  t.teardown(() => removeDir(dir));
  const log = await openCommitLog({ dir, segmentBytes: SEG, preallocate: false });
  await log.append(recordsFrom(1, 10, 1, () => 100));
  t.equal(fs.statSync(dataFiles(dir)[0]).size, 10 * 148);
  await log.close();
});

for (const mode of ['SYNC_FLUSH', 'ASYNC_FLUSH'] as const) {
  t.test(`${mode}: a crash with a sparse tail reopens without a warning, keeps every written record, and appends`, async (t) => {
    const dir = tempDir('prealloc-crash');
    t.teardown(() => removeDir(dir));
    const faults = new CommitLogFaults();
    const opts = { dir, segmentBytes: SEG, flushDiskType: mode, flushIntervalMs: 3_600_000, faults };
    let log = await openCommitLog(opts);
    await log.append(recordsFrom(1, 10, 1, () => 100));
    await log.flush();
    await log.append(recordsFrom(11, 5, 1, () => 100)); // ASYNC_FLUSH: written, not flushed
    const info = await faults.crash();
    const seg = info.lastSegmentPath as string;
    // What the process leaves when it dies: the file extended to the segment length (the old
    // layout had no such tail; make it so either way, as the new code leaves it).
    if (fs.statSync(seg).size < SEG) fs.truncateSync(seg, SEG);
    const { lines, log: logFn } = collectLog();
    log = await openCommitLog({ ...opts, log: logFn });
    t.same(lines.filter((l) => l.level !== 'info'), [], 'zeros after the last record are the clean end: no warning');
    t.equal(log.lastIndex(), 15, 'a process crash loses nothing written');
    await log.append(recordsFrom(16, 30, 2, () => 100));
    t.equal(log.read(1, Infinity).length, 45);
    await log.close();
    log = await openCommitLog({ ...opts, log: logFn });
    const all = log.read(1, Infinity);
    t.equal(all.length, 45);
    const want = [...recordsFrom(1, 15, 1, () => 100), ...recordsFrom(16, 30, 2, () => 100)];
    t.ok(all.every((r, k) => sameRecord(r, want[k])), 'every record byte for byte');
    t.same(lines.filter((l) => l.level !== 'info'), []);
    await log.close();
  });
}

t.test('records after a zeroed hole in the unflushed tail are cut, not resurrected by a later crash', async (t) => {
  const dir = tempDir('prealloc-hole');
  t.teardown(() => removeDir(dir));
  const faults = new CommitLogFaults();
  const opts = { dir, segmentBytes: SEG, flushDiskType: 'ASYNC_FLUSH' as const, flushIntervalMs: 3_600_000, faults };
  let log = await openCommitLog(opts);
  await log.append(recordsFrom(1, 10, 1, () => 100));
  await log.flush();
  await log.append(recordsFrom(11, 10, 1, () => 100));
  let info = await faults.crash();
  const seg = info.lastSegmentPath as string;
  // The page of record 15 never reached the disk, the ones of 16..20 did.
  const fd = fs.openSync(seg, 'r+');
  fs.writeSync(fd, Buffer.alloc(148), 0, 148, 14 * 148);
  fs.closeSync(fd);
  log = await openCommitLog(opts);
  t.equal(log.lastIndex(), 14, 'the log ends before the hole');
  t.ok(isZero(seg, 14 * 148, SEG - 14 * 148), 'the stale records after the hole are gone from the file');
  // Same size, same term: a record 15 that lines up exactly with the old one.
  await log.append(recordsFrom(15, 1, 1, () => 100, 5));
  info = await faults.crash();
  log = await openCommitLog(opts);
  t.equal(log.lastIndex(), 15, 'old records 16..20 did not come back');
  t.ok(sameRecord(log.read(15, 0)[0], recordsFrom(15, 1, 1, () => 100, 5)[0]));
  await log.close();
});

t.test('a zeroed header inside the flushed region is still STORE_CORRUPT with file and offset', async (t) => {
  for (const where of ['middle', 'last'] as const) {
    const dir = tempDir('prealloc-zero-flushed');
    t.teardown(() => removeDir(dir));
    const faults = new CommitLogFaults();
    const log = await openCommitLog({ dir, segmentBytes: 1 << 20, faults });
    await log.append(recordsFrom(1, 50, 1, () => 100));
    const info = await faults.crash(); // SYNC_FLUSH: everything flushed; the file stays extended
    const seg = info.lastSegmentPath as string;
    const k = where === 'middle' ? 19 : 49;
    const fd = fs.openSync(seg, 'r+');
    fs.writeSync(fd, Buffer.alloc(HEADER), 0, HEADER, k * 148);
    fs.closeSync(fd);
    await t.rejects(openCommitLog({ dir, segmentBytes: 1 << 20 }), {
      code: 'STORE_CORRUPT',
      message: new RegExp(`${seg} at byte offset ${k * 148}: zeroed header \\(flushed up to position ${50 * 148}`),
    }, where);
  }
});

t.test('a store whose last segment is not extended (the old layout) opens and appends', async (t) => {
  const dir = tempDir('prealloc-old');
  t.teardown(() => removeDir(dir));
  const faults = new CommitLogFaults();
  let log = await openCommitLog({ dir, segmentBytes: SEG, preallocate: false, flushDiskType: 'ASYNC_FLUSH', flushIntervalMs: 3_600_000, faults });
  await log.append(recordsFrom(1, 10, 1, () => 100));
  await log.flush();
  await log.append(recordsFrom(11, 3, 1, () => 100));
  const info = await faults.crash();
  t.equal(fs.statSync(info.lastSegmentPath as string).size, 13 * 148, 'old layout: the file ends at the last record');
  const { lines, log: logFn } = collectLog();
  log = await openCommitLog({ dir, segmentBytes: SEG, log: logFn });
  t.same(lines.filter((l) => l.level !== 'info'), []);
  t.equal(log.lastIndex(), 13);
  t.equal(fs.statSync(info.lastSegmentPath as string).size, SEG, 'extended once reopened for appending');
  await log.append(recordsFrom(14, 40, 1, () => 100));
  t.equal(log.read(1, Infinity).length, 53);
  await log.close();
});

t.test('truncateAfter zeroes the cut records of the active segment; a crash after it cannot bring them back', async (t) => {
  const dir = tempDir('prealloc-trunc');
  t.teardown(() => removeDir(dir));
  const faults = new CommitLogFaults();
  let log = await openCommitLog({ dir, segmentBytes: SEG, faults });
  await log.append(recordsFrom(1, 20, 1, () => 100));
  await log.truncateAfter(10);
  const seg = dataFiles(dir)[0];
  t.equal(fs.statSync(seg).size, SEG);
  t.ok(isZero(seg, 10 * 148, SEG - 10 * 148), 'the cut part reads as zeros');
  await faults.crash();
  log = await openCommitLog({ dir, segmentBytes: SEG });
  t.equal(log.lastIndex(), 10);
  await log.close();
});
