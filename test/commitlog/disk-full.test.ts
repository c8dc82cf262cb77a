// A full disk: the writer gets DISK_FULL, no half record stays, the store stays readable and
// writable once there is space again. A failed fdatasync makes the store refuse writes (IO_ERROR).
import fs from 'node:fs';
import t from 'tap';
import { openCommitLog, type DiskFaults } from '../../src/commitlog/index.ts';
import { collectLog, dataFiles, indexFiles, recordsFrom, removeDir, tempDir } from './helpers.ts';

function sizes(dir: string): number[] {
  return [...dataFiles(dir), ...indexFiles(dir)].map((f) => fs.statSync(f).size);
}

for (const [budget, crcOffloadMinBytes] of [
  ['in the data write', 0],
  ['in the index write', 0],
  ['in the data write', 1], // the batches' CRCs on the worker thread: dropped ones are still being sealed
] as const) {
  t.test(`ENOSPC ${budget} gives DISK_FULL, leaves no half record, and the store stays usable (crcOffloadMinBytes ${crcOffloadMinBytes})`, async (t) => {
    const dir = tempDir('full');
    t.teardown(() => removeDir(dir));
    const faults: DiskFaults = { bytesLeft: Infinity };
    const { lines, log: logFn } = collectLog();
    const log = await openCommitLog({ dir, faults, cacheBytes: 0, log: logFn, crcOffloadMinBytes });
    await log.append(recordsFrom(1, 10, 1, () => 300));
    const before = sizes(dir);
    // 5 records of 348 bytes = 1740 data bytes, then 160 index bytes.
    faults.bytesLeft = budget === 'in the data write' ? 1000 : 1740 + 40;
    const concurrent = [log.append(recordsFrom(11, 5, 1, () => 300)), log.append(recordsFrom(16, 1, 1, () => 300))];
    const results = await Promise.allSettled(concurrent);
    for (const r of results) t.match(r, { status: 'rejected', reason: { code: 'DISK_FULL' } });
    t.equal(log.lastIndex(), 10, 'the failed appends are gone');
    t.same(sizes(dir), before, 'the partial write was cut back');
    t.equal(log.read(1, Infinity).length, 10, 'what was written before still reads');
    t.ok(lines.some((l) => l.level === 'error' && l.msg.includes('write failed')));
    // A writer that tries again while the disk is still full gets no new line for it.
    const logged = lines.length;
    await t.rejects(log.append(recordsFrom(11, 5, 1, () => 300)), { code: 'DISK_FULL' });
    t.equal(lines.length, logged, 'the same full disk is logged once');
    faults.bytesLeft = Infinity;
    await log.append(recordsFrom(11, 3, 2, () => 300));
    t.equal(log.lastIndex(), 13, 'appends work again once there is space');
    faults.bytesLeft = 0;
    await t.rejects(log.append(recordsFrom(14, 1, 2, () => 300)), { code: 'DISK_FULL' });
    t.equal(lines.filter((l) => l.level === 'error').length, 2, 'a full disk after a write went through is logged again');
    faults.bytesLeft = Infinity;
    await log.close();
    const again = await openCommitLog({ dir });
    t.equal(again.lastIndex(), 13);
    t.equal(again.read(1, Infinity).length, 13);
    await again.close();
  });
}

t.test('a failed fdatasync makes the store refuse writes with IO_ERROR; reads still work', async (t) => {
  const dir = tempDir('eio');
  t.teardown(() => removeDir(dir));
  const faults: DiskFaults = { bytesLeft: Infinity };
  const log = await openCommitLog({ dir, faults, log: () => {} });
  await log.append(recordsFrom(1, 5, 1, () => 10));
  faults.failDatasync = true;
  await t.rejects(log.append(recordsFrom(6, 1, 1, () => 10)), { code: 'IO_ERROR' });
  await t.rejects(log.append(recordsFrom(7, 1, 1, () => 10)), { code: 'IO_ERROR' });
  t.equal(log.read(1, Infinity).length >= 5, true);
  await log.close();
  const again = await openCommitLog({ dir });
  t.ok(again.lastIndex() >= 5);
  await again.close();
});
