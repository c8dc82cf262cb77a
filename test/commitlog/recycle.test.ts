// Recycled segment files (recycledSegmentsMax, recycler.ts): retention renames removed segments
// into a bounded pool with their first block zeroed, a roll reuses them, and nothing an older
// segment left in a file is ever read as a record: not after a clean close, not after a crash at
// any step of the recycling, not after a power cut in the middle of a write into a recycled file.
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import {
  CommitLogFaults,
  DIRECT_ALIGN,
  encodeRecord,
  openCommitLog,
  type CommitLogOptions,
  type FileCommitLog,
  type LogRecord,
  type RecyclePoint,
} from '../../src/commitlog/index.ts';
import { collectLog, dataFiles, indexFiles, recordsFrom, removeDir, sameRecord, tempDir } from './helpers.ts';

const SEGMENT_BYTES = 16384;
/** One 4032-byte record per append: a segment holds four, every block nearly full of record bytes
 *  (the old bytes a recycled file holds where the new records' padding goes). */
const BIG = 4000;
/** Small records: each append takes a block of its own under SYNC_FLUSH, mostly padding. */
const SMALL = 100;

const MODES = [
  { name: 'SYNC_FLUSH with direct writes', flushDiskType: 'SYNC_FLUSH', directIo: true },
  { name: 'SYNC_FLUSH through the page cache', flushDiskType: 'SYNC_FLUSH', directIo: false },
  { name: 'ASYNC_FLUSH', flushDiskType: 'ASYNC_FLUSH', directIo: false },
] as const;

/** A store, what it acknowledged, and how to append one record of `size` bytes at a time. */
class Harness {
  acked: LogRecord[] = [];
  log!: FileCommitLog;
  readonly lines = collectLog();
  readonly faults = new CommitLogFaults();

  constructor(readonly opts: CommitLogOptions) {}

  static async open(t: Test, extra: Partial<CommitLogOptions> = {}): Promise<Harness> {
    const dir = tempDir('recycle');
    t.teardown(() => removeDir(dir));
    const h = new Harness({ dir, segmentBytes: SEGMENT_BYTES, indexEntriesPerFile: 64, recycledSegmentsMax: 2, ...extra });
    h.log = await openCommitLog({ ...h.opts, log: h.lines.log, faults: h.faults });
    t.teardown(() => h.log.close());
    return h;
  }

  get dir(): string {
    return this.opts.dir;
  }

  async append(count: number, size: number, salt = 0): Promise<void> {
    for (let k = 0; k < count; k++) {
      const recs = recordsFrom(this.log.lastIndex() + 1, 1, 1, () => size, salt);
      await this.log.append(recs);
      this.acked.push(...recs);
    }
  }

  /** Appends small records until `n` segments were made in recycled files since open. */
  async appendUntilRecycled(n: number): Promise<void> {
    for (let k = 0; this.log.stats().segmentsRecycled < n; k++) {
      if (k > 1000) throw new Error(`no ${n} recycled segments after 1000 appends`);
      await this.append(1, SMALL, 1);
    }
  }

  /** Retention up to the first record of the segment before the last: all but two segments go. */
  async retainLastTwoSegments(): Promise<number> {
    const segments = dataFiles(this.dir);
    const keepFrom = segments[segments.length - 2]!;
    const firstKept = this.acked.find((r) => r.index >= this.log.firstIndex() && recordIn(keepFrom, r.index))!.index;
    await this.log.deleteBefore(firstKept);
    return firstKept;
  }

  async crash(): Promise<void> {
    await this.faults.crash();
  }

  async reopen(extra: Partial<CommitLogOptions> = {}): Promise<void> {
    this.log = await openCommitLog({ ...this.opts, log: this.lines.log, faults: this.faults, ...extra });
  }

  /** Every acknowledged record from the first index on is there, byte for byte, and nothing else. */
  check(t: Test, what: string): void {
    const first = this.log.firstIndex();
    const want = this.acked.filter((r) => r.index >= first);
    const got = this.log.read(first, Infinity);
    const bad = want.filter((r, k) => got[k] === undefined || !sameRecord(got[k]!, r)).map((r) => r.index);
    t.same(bad, [], `${what}: all ${want.length} acknowledged records from ${first} on are back, byte for byte`);
    t.equal(this.log.lastIndex(), want.length > 0 ? want[want.length - 1]!.index : first - 1, `${what}: and nothing after them`);
    this.acked = want;
  }

  tornTailWarnings(): number {
    return this.lines.lines.filter((l) => l.msg.startsWith('cut a torn tail')).length;
  }
}

/** Whether the record `index` is in the segment file `file` (from its first header). */
function recordIn(file: string, index: number): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(16);
    fs.readSync(fd, head, 0, 16, 0);
    return Number(head.readBigUInt64BE(8)) <= index;
  } finally {
    fs.closeSync(fd);
  }
}

function poolFiles(dir: string): string[] {
  return fs
    .readdirSync(path.join(dir, 'data'))
    .filter((n) => n.endsWith('.recycled'))
    .sort()
    .map((n) => path.join(dir, 'data', n));
}

function firstBlockIsZero(file: string): boolean {
  const b = fs.readFileSync(file).subarray(0, DIRECT_ALIGN);
  return b.every((x) => x === 0);
}

for (const mode of MODES) {
  t.test(`${mode.name}: retention keeps at most recycledSegmentsMax removed files, zeroed, and rolls reuse them`, async (t) => {
    const h = await Harness.open(t, { flushDiskType: mode.flushDiskType, directIo: mode.directIo, flushIntervalMs: 3_600_000 });
    await h.append(4 * 6 - 1, BIG); // six segments
    t.equal(dataFiles(h.dir).length, 6);
    await h.retainLastTwoSegments();
    const pool = poolFiles(h.dir);
    t.equal(pool.length, 2, 'four segments removed: two kept for reuse, two unlinked');
    t.equal(dataFiles(h.dir).length, 2);
    t.ok(pool.every(firstBlockIsZero), 'the first block of each kept file is zeros');
    t.equal(h.log.stats().recycledFiles, 2);
    await h.appendUntilRecycled(2);
    await h.append(2, SMALL, 2); // the last segment is a recycled one, its end mid-file
    t.equal(poolFiles(h.dir).length, 0, 'both reused');
    t.equal(h.log.stats().segmentsRecycled, 2);
    h.check(t, 'before any reopen');
    if (mode.flushDiskType === 'ASYNC_FLUSH') await h.log.flush();
    // A crash: no cut back to the records, so an older segment's bytes follow the new ones.
    const info = await h.faults.crash();
    const after = fs.readFileSync(info.lastSegmentPath!).subarray(info.lastSegmentWrittenBytes);
    t.ok(after.some((x) => x !== 0), 'old bytes lie after the records of the last segment');
    await h.reopen();
    h.check(t, 'after a crash');
    t.equal(h.tornTailWarnings(), 0, 'an older segment\'s records after the end are the clean end: no torn-tail warning');
    await h.append(3, SMALL, 3);
    await h.log.close();
    await h.reopen();
    h.check(t, 'after a clean close');
    // The index is gone: recovery verifies every segment, the recycled ones included, to its end.
    await h.log.close();
    for (const f of indexFiles(h.dir)) fs.rmSync(f);
    await h.reopen();
    h.check(t, 'after a rebuild of the index from every segment');
  });
}

t.test('a recycled file in the page cache path: the zeros before each append are written with the record before it', async (t) => {
  // Without them the old bytes in the padding before an append make recovery stop there: the
  // records after it (acknowledged) would be cut, or the store called corrupt.
  const h = await Harness.open(t, { flushDiskType: 'SYNC_FLUSH', directIo: false });
  await h.append(4 * 4, BIG);
  await h.retainLastTwoSegments();
  await h.appendUntilRecycled(1);
  await h.append(2, SMALL, 1);
  await h.log.close();
  await h.reopen();
  h.check(t, 'reopened with a recycled last segment');
});

t.test('recovery stops at a CRC-valid record after the end that does not continue the log: cut, never read, never a failure', async (t) => {
  for (const kind of ['an older segment', 'the right position but the wrong index'] as const) {
    const h = await Harness.open(t, { flushDiskType: 'SYNC_FLUSH' });
    await h.append(6, SMALL);
    const info = await h.faults.crash();
    // Right after the last record (not after zeros to the next block: those end the records anyway).
    const end = info.lastSegmentWrittenBytes;
    const next = h.log.lastIndex() + 1;
    const index = kind === 'an older segment' ? next : next + 1;
    const position = kind === 'an older segment' ? info.lastSegmentStart - SEGMENT_BYTES + end : info.lastSegmentStart + end;
    const rec = Buffer.alloc(64 + SMALL);
    const size = encodeRecord(rec, new DataView(rec.buffer, rec.byteOffset, rec.length), 0, index, 1, 0, Buffer.alloc(SMALL, 9), position);
    const fd = fs.openSync(info.lastSegmentPath!, 'r+');
    fs.writeSync(fd, rec, 0, size, end);
    fs.closeSync(fd);
    await h.reopen();
    h.check(t, kind);
    t.equal(h.tornTailWarnings(), kind === 'an older segment' ? 0 : 1, `${kind}: ${kind === 'an older segment' ? 'the clean end' : 'a torn tail, with a warning'}`);
    await h.append(1, SMALL, 5);
    h.check(t, `${kind}: appends continue`);
    await h.log.close();
  }
});

const POINTS: RecyclePoint[] = ['retire-renamed', 'retire-zeroed', 'take-renamed', 'take-synced'];
for (const point of POINTS) {
  t.test(`a crash at ${point} loses nothing acknowledged and shows nothing stale`, async (t) => {
    const h = await Harness.open(t, { flushDiskType: 'SYNC_FLUSH' });
    await h.append(4 * 5, BIG);
    const retire = point.startsWith('retire');
    if (retire) h.faults.crashAtRecycle = point;
    const retention = h.retainLastTwoSegments();
    if (retire) await t.rejects(retention, /crash point/, 'retention stops there');
    else await retention;
    if (!retire) {
      h.faults.crashAtRecycle = point;
      let failed: unknown = null;
      for (let k = 0; k < 10 && failed === null; k++) await h.append(1, SMALL, 1).catch((err: unknown) => (failed = err));
      t.equal(h.faults.crashAtRecycle, null, 'the roll reached the point');
      t.match(failed, { code: 'IO_ERROR' }, 'the roll failed the store there');
    }
    await h.crash();
    await h.reopen({ faults: undefined });
    h.check(t, `reopened after ${point}`);
    t.ok(poolFiles(h.dir).every(firstBlockIsZero), 'every pool file starts with a zeroed block');
    t.ok(poolFiles(h.dir).length <= 2, 'the pool is bounded');
    // Go on: retention and rolls into recycled files, then another crash (old bytes after the end).
    await h.append(4 * 3, BIG, 2);
    await h.retainLastTwoSegments();
    await h.appendUntilRecycled(1);
    await h.append(2, SMALL, 3);
    await h.log.close();
    h.lines.lines.length = 0;
    await h.reopen({ faults: undefined });
    h.check(t, `after ${point}, more retention and reuse`);
    t.equal(h.lines.lines.filter((l) => l.level !== 'info').length, 0, 'no warnings');
    await h.log.close();
  });
}

for (const directIo of [true, false]) {
  t.test(`a power cut in the middle of a write into a recycled file (${directIo ? 'direct' : 'page cache'}) loses nothing acknowledged`, async (t) => {
    for (let round = 0; round < 6; round++) {
      const h = await Harness.open(t, { flushDiskType: 'SYNC_FLUSH', directIo });
      await h.append(4 * 4, BIG);
      await h.retainLastTwoSegments();
      await h.appendUntilRecycled(1);
      // 0-2 more appends of a block each: the cut write is the recycled segment's 2nd-4th block.
      await h.append(round % 3, round < 3 ? SMALL : 1500, 4);
      h.faults.powerCutNextWrite = true;
      await t.rejects(h.log.append(recordsFrom(h.log.lastIndex() + 1, 2, 1, () => 700, 8)));
      const info = await h.faults.crash();
      // The block the write began (file offsets) is torn: half new bytes (garbage here), half old.
      const block = h.faults.powerCutBlock!;
      t.ok(block.start >= DIRECT_ALIGN, 'the cut write was to begin after the acknowledged records');
      const garbage = Buffer.alloc((block.end - block.start) / 2, 0x5a);
      const fd = fs.openSync(info.lastSegmentPath!, 'r+');
      fs.writeSync(fd, garbage, 0, garbage.length, block.start);
      fs.closeSync(fd);
      h.faults.powerCutBlock = null;
      await h.reopen({ faults: undefined });
      h.check(t, `round ${round}`);
      await h.log.close();
    }
  });
}

t.test('a full disk removes the recycled files', async (t) => {
  const h = await Harness.open(t, { flushDiskType: 'SYNC_FLUSH' });
  await h.append(4 * 4, BIG);
  await h.retainLastTwoSegments();
  t.equal(poolFiles(h.dir).length, 2);
  h.faults.bytesLeft = 10;
  await t.rejects(h.log.append(recordsFrom(h.log.lastIndex() + 1, 1, 1, () => SMALL)), { code: 'DISK_FULL' });
  t.equal(poolFiles(h.dir).length, 0, 'their space is free again');
  t.equal(h.log.stats().recycledFiles, 0);
  h.faults.bytesLeft = Infinity;
  await h.append(1, SMALL);
  h.check(t, 'after the full disk');
});

t.test('without preallocation, or with recycledSegmentsMax 0, removed segments are unlinked', async (t) => {
  for (const extra of [{ preallocate: false }, { recycledSegmentsMax: 0 }]) {
    const h = await Harness.open(t, extra);
    await h.append(4 * 4, BIG);
    await h.retainLastTwoSegments();
    t.equal(poolFiles(h.dir).length, 0, JSON.stringify(extra));
    await h.log.close();
  }
});
