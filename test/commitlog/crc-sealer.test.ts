// CRCs of large batches computed on the worker thread (crc-sealer.ts): the files are the same
// bytes as with every CRC computed inline, and a worker that dies loses nothing.
import fs from 'node:fs';
import t from 'tap';
import { openCommitLog, CommitLogFaults, type CommitLogOptions, type LogRecord } from '../../src/commitlog/index.ts';
import { collectLog, dataFiles, indexFiles, recordsFrom, removeDir, sameRecord, tempDir } from './helpers.ts';

/** Batches of 1..200 records of 1..3000 bytes: some below, some above a 64 KiB threshold. */
function batches(): LogRecord[][] {
  const out: LogRecord[][] = [];
  let next = 1;
  for (const [count, size] of [[1, 10], [200, 1000], [3, 3000], [90, 800], [1, 1], [150, 2900], [40, 100]] as const) {
    out.push(recordsFrom(next, count, 1 + Math.floor(next / 200), (i) => 1 + ((i * 7919) % size)));
    next += count;
  }
  return out;
}

async function writeAll(opts: CommitLogOptions): Promise<void> {
  const log = await openCommitLog(opts);
  // All in flight at once (several chunks on the worker at a time), then a second round awaited
  // one by one.
  const bs = batches();
  await Promise.all(bs.slice(0, 4).map((b) => log.append(b)));
  for (const b of bs.slice(4)) await log.append(b);
  await log.close();
}

t.test('batches sealed on the worker give the same files as CRCs computed inline', async (t) => {
  const inline = tempDir('crc-inline');
  const offload = tempDir('crc-offload');
  t.teardown(() => {
    removeDir(inline);
    removeDir(offload);
  });
  for (const flushDiskType of ['SYNC_FLUSH', 'ASYNC_FLUSH'] as const) {
    fs.rmSync(inline, { recursive: true, force: true });
    fs.rmSync(offload, { recursive: true, force: true });
    await writeAll({ dir: inline, flushDiskType, segmentBytes: 256 * 1024, crcOffloadMinBytes: 0 });
    await writeAll({ dir: offload, flushDiskType, segmentBytes: 256 * 1024, crcOffloadMinBytes: 1024 });
    const a = [...dataFiles(inline), ...indexFiles(inline)];
    const b = [...dataFiles(offload), ...indexFiles(offload)];
    t.equal(a.length, b.length, `${flushDiskType}: same files`);
    t.ok(a.length > 2, 'several segments');
    for (let i = 0; i < a.length; i++) t.ok(fs.readFileSync(a[i]).equals(fs.readFileSync(b[i])), `${flushDiskType}: ${a[i].slice(inline.length)} byte for byte`);
    // Reading back from the files verifies every CRC.
    const log = await openCommitLog({ dir: offload, cacheBytes: 0 });
    const want = batches().flat();
    const got = log.read(1, Infinity);
    t.equal(got.length, want.length);
    t.ok(got.every((r, i) => sameRecord(r, want[i])), 'every record reads back');
    await log.close();
  }
});

t.test('the CRC worker dying mid-stream: appends go on, sealed inline, and nothing is lost', async (t) => {
  const dir = tempDir('crc-kill');
  t.teardown(() => removeDir(dir));
  for (const flushDiskType of ['SYNC_FLUSH', 'ASYNC_FLUSH'] as const) {
    fs.rmSync(dir, { recursive: true, force: true });
    const { lines, log: logFn } = collectLog();
    const faults = new CommitLogFaults();
    const log = await openCommitLog({ dir, flushDiskType, crcOffloadMinBytes: 1, log: logFn, faults });
    const appends: Promise<void>[] = [];
    let next = 1;
    for (let round = 0; round < 40; round++) {
      appends.push(log.append(recordsFrom(next, 20, 1, (i) => 100 + (i % 500))));
      next += 20;
      if (round === 20) appends.push(faults.killCrcWorker());
    }
    await Promise.all(appends);
    t.ok(lines.some((l) => l.level === 'warn' && l.msg.includes('CRC worker failed')), `${flushDiskType}: the failure is logged`);
    for (let round = 0; round < 5; round++) {
      await log.append(recordsFrom(next, 20, 1, () => 200));
      next += 20;
    }
    await log.close();
    const again = await openCommitLog({ dir, cacheBytes: 0 });
    const got = again.read(1, Infinity);
    t.equal(got.length, next - 1, 'every appended record is there');
    t.ok(got.every((r) => r.data.byteLength >= 100), 'and reads back (CRCs verified)');
    await again.close();
  }
});
