// The record format's helpers, and batches larger than the encoding buffer the writer reuses.
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import t from 'tap';
import { openCommitLog, crc32Small, type LogRecord } from '../../src/commitlog/index.ts';
import { recordsFrom, removeDir, sameRecord, tempDir } from './helpers.ts';

t.test('crc32Small equals zlib.crc32 for every length and offset it is used with and more', async (t) => {
  let mismatches = 0;
  for (let len = 0; len <= 80; len++) {
    for (let off = 0; off < 4; off++) {
      const buf = randomBytes(off + len + 3);
      if (crc32Small(buf, off, len) !== crc32(buf.subarray(off, off + len))) mismatches++;
    }
  }
  t.equal(mismatches, 0);
  t.equal(crc32Small(Buffer.from('123456789'), 0, 9), 0xcbf43926, 'the CRC-32 check value');
});

t.test('batches larger than the encoding buffer (8 MiB), between small ones, across segments, read back', async (t) => {
  const dir = tempDir('record-big-batch');
  t.teardown(() => removeDir(dir));
  const size = (i: number): number => (i % 7 === 0 ? 1_200_000 : 100 + (i % 13));
  const counts = [5, 40, 3, 60, 1, 70];
  const batches: LogRecord[][] = [];
  for (const n of counts) batches.push(recordsFrom(batches.flat().length + 1, n, 1, size));
  let log = await openCommitLog({ dir, flushDiskType: 'ASYNC_FLUSH', cacheBytes: 0, segmentBytes: 16 * 1024 * 1024 });
  await Promise.all(batches.slice(0, 3).map((b) => log.append(b))); // one turn: one pump writes all three
  for (const b of batches.slice(3)) await log.append(b);
  const expected = batches.flat();
  const mismatches = (): number => expected.filter((r) => !sameRecord(log.read(r.index, 0)[0], r)).length;
  t.equal(mismatches(), 0, 'read from the files (no cache)');
  await log.close();
  log = await openCommitLog({ dir });
  t.equal(log.lastIndex(), expected.length);
  t.equal(mismatches(), 0, 'after a reopen');
  await log.close();
});
