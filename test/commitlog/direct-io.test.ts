// Direct I/O (O_DIRECT) data writes: the files are byte-identical to page-cache writes of the same
// appends (across aligned and unaligned block ends, segment rolls, truncations, reopens and
// batches larger than the staging buffer), and a filesystem without O_DIRECT falls back with a
// warning. Replay: SEED=<seed> npx tap test/commitlog/direct-io.test.ts
import fs from 'node:fs';
import fc from 'fast-check';
import t from 'tap';
import { openCommitLog, type FileCommitLog, RECORD_HEADER_SIZE, type CommitLogOptions } from '../../src/commitlog/index.ts';
import { collectLog, dataFiles, indexFiles, recordsFrom, removeDir, sameRecord, tempDir } from './helpers.ts';

const SEED = process.env.SEED !== undefined ? Number(process.env.SEED) : 20261204;
const NUM_RUNS = Number(process.env.NUM_RUNS ?? 25);

type Op =
  | { kind: 'append'; sizes: number[]; concurrent: number }
  | { kind: 'truncate'; keepFraction: number }
  | { kind: 'reopen' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('append' as const), sizes: fc.array(fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.constant(4096 - 64), fc.integer({ min: 1, max: 1_300_000 })), { minLength: 1, maxLength: 6 }), concurrent: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), keepFraction: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const) }) },
);

async function run(opts: CommitLogOptions, ops: readonly Op[]): Promise<FileCommitLog> {
  let log = await openCommitLog(opts);
  let term = 1;
  const bodyMax = (opts.segmentBytes as number) - RECORD_HEADER_SIZE; // a record fits in a segment
  for (const op of ops) {
    if (op.kind === 'append') {
      // `concurrent` appends issued in one turn (one pump pass, possibly several writes).
      const all: Promise<void>[] = [];
      const per = Math.ceil(op.sizes.length / op.concurrent);
      for (let k = 0; k < op.sizes.length; k += per) {
        const sizes = op.sizes.slice(k, k + per);
        all.push(log.append(recordsFrom(log.lastIndex() + 1, sizes.length, term, (i) => Math.min(sizes[(i - 1) % sizes.length], bodyMax), term)));
      }
      await Promise.all(all);
    } else if (op.kind === 'truncate') {
      const keep = log.firstIndex() - 1 + Math.floor((log.lastIndex() - log.firstIndex() + 1) * op.keepFraction);
      await log.truncateAfter(keep);
      term++;
    } else {
      await log.close();
      log = await openCommitLog(opts);
    }
  }
  return log;
}

t.test('direct writes leave the same files as page-cache writes, and read back the same', async (t) => {
  t.comment(`seed ${SEED} (replay: SEED=${SEED} npx tap test/commitlog/direct-io.test.ts)`);
  let directWrites = 0;
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(4096, 5000, 65536, 3 * 1024 * 1024 + 100), fc.array(opArb, { minLength: 1, maxLength: 12 }), async (segmentBytes, ops) => {
      const dirs = [tempDir('direct-on'), tempDir('direct-off')];
      try {
        const [direct, buffered] = await Promise.all([
          run({ dir: dirs[0], segmentBytes, directIo: true, indexEntriesPerFile: 64 }, ops),
          run({ dir: dirs[1], segmentBytes, directIo: false, indexEntriesPerFile: 64 }, ops),
        ]);
        directWrites += direct.stats().directWrites;
        if (buffered.stats().directWrites !== 0) return false;
        const a = direct.read(direct.firstIndex(), Infinity);
        const b = buffered.read(buffered.firstIndex(), Infinity);
        if (a.length !== b.length || !a.every((r, i) => sameRecord(r, b[i]))) return false;
        await Promise.all([direct.close(), buffered.close()]);
        const files = dirs.map((d) => [...dataFiles(d), ...indexFiles(d)].map((f) => f.slice(d.length)));
        if (JSON.stringify(files[0]) !== JSON.stringify(files[1])) return false;
        for (const f of files[0]) {
          if (!fs.readFileSync(dirs[0] + f).equals(fs.readFileSync(dirs[1] + f))) return false;
        }
        // And the direct store reopens (its tail is read back for the next write) and appends on.
        const again = await openCommitLog({ dir: dirs[0], segmentBytes, directIo: true, indexEntriesPerFile: 64 });
        const next = again.lastIndex() + 1;
        await again.append(recordsFrom(next, 3, 99, () => 777));
        const tail = again.read(Math.max(again.firstIndex(), next - 2), Infinity);
        await again.close();
        const reopened = await openCommitLog({ dir: dirs[0], segmentBytes, directIo: true, indexEntriesPerFile: 64 });
        const back = reopened.read(Math.max(reopened.firstIndex(), next - 2), Infinity);
        await reopened.close();
        return back.length === tail.length && back.every((r, i) => sameRecord(r, tail[i]));
      } finally {
        for (const d of dirs) removeDir(d);
      }
    }),
    { seed: SEED, numRuns: NUM_RUNS },
  );
  t.ok(directWrites > 0, `${directWrites} direct writes made`);
});

t.test('a filesystem without O_DIRECT: one warning, then page-cache writes that work', async (t) => {
  const dir = tempDir('direct-refused');
  t.teardown(() => removeDir(dir));
  const { lines, log: logFn } = collectLog();
  const log = await openCommitLog({ dir, segmentBytes: 8192, log: logFn, faults: { bytesLeft: Infinity, refuseDirectIo: true } });
  for (let k = 0; k < 5; k++) await log.append(recordsFrom(log.lastIndex() + 1, 4, 1, () => 1500)); // rolls segments
  t.equal(log.stats().directWrites, 0, 'no direct writes');
  t.ok(log.stats().writeCalls > 0, 'page-cache writes instead');
  t.equal(lines.filter((l) => /O_DIRECT/.test(l.msg)).length, 1, 'warned once');
  await log.close();
  const again = await openCommitLog({ dir, segmentBytes: 8192 });
  t.equal(again.read(1, Infinity).length, 20, 'everything reads back (with direct I/O on)');
  await again.close();
});

t.test('direct writes that fail with EINVAL after the open: the write is made again through the page cache, nothing lost', async (t) => {
  const dir = tempDir('direct-einval');
  t.teardown(() => removeDir(dir));
  const { lines, log: logFn } = collectLog();
  const faults = { bytesLeft: Infinity, refuseDirectWrites: false };
  const log = await openCommitLog({ dir, segmentBytes: 8192, log: logFn, faults });
  await log.append(recordsFrom(1, 3, 1, () => 1000)); // direct
  t.equal(log.stats().directWrites, 1, 'first write direct');
  faults.refuseDirectWrites = true;
  for (let k = 0; k < 4; k++) await log.append(recordsFrom(log.lastIndex() + 1, 3, 1, () => 1000)); // rolls segments
  t.equal(log.flushedIndex(), 15, 'every append resolved durable');
  t.equal(lines.filter((l) => /EINVAL/.test(l.msg)).length, 1, 'warned once');
  t.equal(log.read(1, Infinity).length, 15);
  await log.close();
  const again = await openCommitLog({ dir, segmentBytes: 8192 });
  const back = again.read(1, Infinity);
  t.same(back.map((r) => r.index), Array.from({ length: 15 }, (_, i) => i + 1), 'all of it after a reopen');
  t.ok(back.every((r) => sameRecord(r, recordsFrom(r.index, 1, 1, () => 1000)[0])), 'byte for byte');
  await again.close();
});

t.test('ASYNC_FLUSH and preallocate: false write through the page cache', async (t) => {
  for (const opts of [{ flushDiskType: 'ASYNC_FLUSH' as const }, { preallocate: false }]) {
    const dir = tempDir('direct-not-used');
    t.teardown(() => removeDir(dir));
    const log = await openCommitLog({ dir, ...opts });
    await log.append(recordsFrom(1, 10, 1, () => 100));
    await log.flush();
    t.equal(log.stats().directWrites, 0, JSON.stringify(opts));
    await log.close();
  }
});

t.test('a direct write is its own fdatasync (O_DSYNC): appends resolve durable without one per round', async (t) => {
  for (const directIo of [true, false]) {
    const dir = tempDir('direct-dsync');
    t.teardown(() => removeDir(dir));
    const log = await openCommitLog({ dir, directIo });
    for (let i = 1; i <= 20; i++) {
      await log.append(recordsFrom(i, 1, 1, () => 300));
      if (log.flushedIndex() !== i) t.fail(`append ${i} resolved before it was flushed`);
    }
    const s = log.stats();
    t.ok(s.flushRounds >= 20, `${directIo}: a round per awaited append (${s.flushRounds})`);
    if (directIo) t.ok(s.fdatasyncCalls < 5, `direct: ${s.fdatasyncCalls} fdatasyncs (index and checkpoint at most once a second)`);
    else t.ok(s.fdatasyncCalls >= 20, `page cache: ${s.fdatasyncCalls} fdatasyncs, one per round`);
    await log.close();
  }
});
