// The CommitLog contract: argument checks, flush policies, group commit, segments, retention.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { openCommitLog, type DiskFaults } from '../../src/commitlog/index.ts';
import { dataFiles, recordsFrom, removeDir, tempDir } from './helpers.ts';

t.test('a new log is empty with firstIndex 1 and term 0 at index 0', async (t) => {
  const dir = tempDir('api-new');
  t.teardown(() => removeDir(dir));
  const log = await openCommitLog({ dir });
  t.equal(log.firstIndex(), 1);
  t.equal(log.lastIndex(), 0);
  t.equal(log.flushedIndex(), 0);
  t.equal(log.termAt(0), 0);
  t.same(log.read(1, 100), []);
  t.throws(() => log.termAt(1), { code: 'INVALID_ARGUMENT' });
  await log.close();
});

t.test('bad arguments are refused with INVALID_ARGUMENT and change nothing', async (t) => {
  const dir = tempDir('api-args');
  t.teardown(() => removeDir(dir));
  const log = await openCommitLog({ dir, segmentBytes: 4096 });
  await log.append(recordsFrom(1, 3, 2, () => 10));
  await t.rejects(log.append(recordsFrom(5, 1, 2, () => 10)), { code: 'INVALID_ARGUMENT', message: /expected 4/ });
  await t.rejects(log.append(recordsFrom(4, 1, 1, () => 10)), { code: 'INVALID_ARGUMENT', message: /term 1/ });
  await t.rejects(log.append(recordsFrom(4, 1, 2, () => 4096)), { code: 'INVALID_ARGUMENT', message: /does not fit in a segment of 4096 bytes/ });
  await t.rejects(log.append([{ index: 4, term: 2, type: 300, data: Buffer.alloc(1) }]), { code: 'INVALID_ARGUMENT' });
  t.equal(log.lastIndex(), 3);
  await log.append(recordsFrom(4, 1, 2, () => 4096 - 48));
  t.equal(log.read(4, 0)[0].data.byteLength, 4048, 'the largest record fits exactly');
  t.throws(() => log.read(0, 10), { code: 'INVALID_ARGUMENT' });
  t.throws(() => log.read(1, -1), { code: 'INVALID_ARGUMENT' });
  t.throws(() => log.termAt(5), { code: 'INVALID_ARGUMENT' });
  await log.close();
  await t.rejects(log.append(recordsFrom(5, 1, 2, () => 1)), { code: 'STORE_CLOSED' });
  t.throws(() => log.read(1, 1), { code: 'STORE_CLOSED' });
  await t.rejects(openCommitLog({ dir, segmentBytes: 10 }), { code: 'INVALID_ARGUMENT' });
});

t.test('SYNC_FLUSH: an append resolves only once fdatasync covers it; concurrent appends share fdatasyncs', async (t) => {
  const dir = tempDir('api-sync');
  t.teardown(() => removeDir(dir));
  const log = await openCommitLog({ dir });
  const appends: Promise<void>[] = [];
  let violations = 0;
  for (let i = 1; i <= 500; i++) {
    appends.push(
      log.append(recordsFrom(i, 1, 1, () => 100)).then(() => {
        if (log.flushedIndex() < i) violations++;
      }),
    );
  }
  t.equal(log.lastIndex(), 500, 'lastIndex counts accepted appends at once');
  await Promise.all(appends);
  t.equal(violations, 0, 'no append resolved before it was flushed');
  const s = log.stats();
  t.ok(s.flushRounds <= 5, `500 concurrent appends took ${s.flushRounds} flush rounds (group commit)`);
  t.ok(s.writeCalls <= 10, `and ${s.writeCalls} write calls`);
  await log.close();
});

t.test('ASYNC_FLUSH: appends resolve after the write; flush by interval, by bytes, and on flush()', async (t) => {
  const dir = tempDir('api-async');
  t.teardown(() => removeDir(dir));
  let log = await openCommitLog({ dir, flushDiskType: 'ASYNC_FLUSH', flushIntervalMs: 3_600_000 });
  await log.append(recordsFrom(1, 10, 1, () => 100));
  t.equal(log.flushedIndex(), 0, 'resolved before any fdatasync');
  await log.flush();
  t.equal(log.flushedIndex(), 10);
  await log.close();

  log = await openCommitLog({ dir, flushDiskType: 'ASYNC_FLUSH', flushIntervalMs: 20 });
  await log.append(recordsFrom(11, 10, 1, () => 100));
  await new Promise((r) => setTimeout(r, 100));
  t.equal(log.flushedIndex(), 20, 'flushed by the interval');
  await log.close();

  log = await openCommitLog({ dir, flushDiskType: 'ASYNC_FLUSH', flushIntervalMs: 3_600_000, flushLeastBytes: 1000 });
  await log.append(recordsFrom(21, 10, 1, () => 100));
  await new Promise((r) => setTimeout(r, 50));
  t.equal(log.flushedIndex(), 30, 'flushed once flushLeastBytes were unflushed');
  await log.close();
});

t.test('ASYNC_FLUSH: appends go on while a flush round waits on a slow fdatasync', async (t) => {
  const dir = tempDir('api-async-slow');
  t.teardown(() => removeDir(dir));
  const faults: DiskFaults = { bytesLeft: Infinity };
  const log = await openCommitLog({ dir, flushDiskType: 'ASYNC_FLUSH', flushIntervalMs: 3_600_000, flushLeastBytes: 1000, faults });
  faults.datasyncDelayMs = 2000;
  const t0 = performance.now();
  for (let i = 1; i <= 200; i += 10) await log.append(recordsFrom(i, 10, 1, () => 200));
  const ms = performance.now() - t0;
  t.ok(log.stats().fdatasyncCalls > 0, 'flushLeastBytes started a round');
  t.equal(log.flushedIndex(), 0, 'which has not finished');
  t.ok(ms < 1000, `20 appends took ${Math.round(ms)} ms, not a 2 s fdatasync`);
  faults.datasyncDelayMs = 0;
  await log.flush();
  t.equal(log.flushedIndex(), 200);
  await log.close();
});

t.test('segments are named by their 20-digit start offset and no record spans two', async (t) => {
  const dir = tempDir('api-seg');
  t.teardown(() => removeDir(dir));
  const log = await openCommitLog({ dir, segmentBytes: 4096 });
  await log.append(recordsFrom(1, 100, 1, (i) => 50 + ((i * 37) % 400)));
  const files = dataFiles(dir);
  t.ok(files.length > 5);
  files.forEach((f, k) => {
    t.equal(path.basename(f), String(k * 4096).padStart(20, '0'));
    t.ok(fs.statSync(f).size <= 4096);
  });
  await log.close();
});

t.test('truncateAfter removes the suffix durably; new entries replace it', async (t) => {
  const dir = tempDir('api-trunc');
  t.teardown(() => removeDir(dir));
  let log = await openCommitLog({ dir, segmentBytes: 4096 });
  await log.append(recordsFrom(1, 50, 1, () => 200));
  const p = log.truncateAfter(20);
  await t.rejects(log.append(recordsFrom(51, 1, 1, () => 1)), { code: 'INVALID_ARGUMENT', message: /truncateAfter is in progress/ });
  await p;
  t.equal(log.lastIndex(), 20);
  t.equal(log.flushedIndex(), 20);
  await log.append(recordsFrom(21, 5, 3, () => 10, 9));
  t.equal(log.termAt(21), 3);
  t.equal(log.termAt(20), 1);
  await log.close();
  log = await openCommitLog({ dir, segmentBytes: 4096 });
  t.equal(log.lastIndex(), 25);
  t.same(Buffer.from(log.read(21, 0)[0].data), recordsFrom(21, 1, 3, () => 10, 9)[0].data);
  await log.truncateAfter(0);
  t.equal(log.lastIndex(), 0);
  await log.append(recordsFrom(1, 1, 4, () => 10));
  await log.close();
});

t.test('deleteBefore drops whole segments and remembers the term before the first index', async (t) => {
  const dir = tempDir('api-retention');
  t.teardown(() => removeDir(dir));
  let log = await openCommitLog({ dir, segmentBytes: 4096 });
  for (let i = 1; i <= 100; i += 10) await log.append(recordsFrom(i, 10, i, () => 200));
  const segsBefore = dataFiles(dir).length;
  await log.deleteBefore(55);
  const first = log.firstIndex();
  t.ok(first > 1 && first <= 55, `first index ${first}`);
  t.ok(dataFiles(dir).length < segsBefore);
  t.equal(log.termAt(first - 1), Math.floor((first - 2) / 10) * 10 + 1);
  t.throws(() => log.read(first - 1, 1), { code: 'COMPACTED' });
  t.throws(() => log.termAt(first - 2), { code: 'COMPACTED' });
  await t.rejects(log.truncateAfter(first - 2), { code: 'COMPACTED' });
  await log.deleteBefore(1_000_000);
  t.equal(dataFiles(dir).length, 1, 'the last segment is always kept');
  const first2 = log.firstIndex();
  await log.close();
  log = await openCommitLog({ dir, segmentBytes: 4096 });
  t.equal(log.firstIndex(), first2);
  t.equal(log.termAt(first2 - 1), Math.floor((first2 - 2) / 10) * 10 + 1);
  t.equal(log.read(first2, Infinity).length, 100 - first2 + 1);
  await log.close();
});

t.test('writeNow writes what was accepted at once, and under SYNC_FLUSH starts its fdatasync; it never changes what an append means', async (t) => {
  const cases = [
    { flushDiskType: 'SYNC_FLUSH', directIo: false },
    { flushDiskType: 'SYNC_FLUSH', directIo: true },
    { flushDiskType: 'ASYNC_FLUSH', directIo: false },
  ] as const;
  for (const { flushDiskType, directIo } of cases) {
    const name = `${flushDiskType}${directIo ? ' (direct I/O)' : ''}`;
    const dir = tempDir(`api-write-now-${flushDiskType}-${directIo}`);
    t.teardown(() => removeDir(dir));
    const log = await openCommitLog({ dir, flushDiskType, directIo });
    log.writeNow(); // nothing accepted: nothing to do
    const before = log.stats();
    const appended = log.append(recordsFrom(1, 3, 1, () => 100));
    t.equal(log.stats().writeCalls + log.stats().directWrites, before.writeCalls + before.directWrites, `${name}: an append alone writes at the end of the turn`);
    log.writeNow();
    const after = log.stats();
    if (directIo) {
      // The direct write is issued on the thread pool in the call; its fdatasync follows it.
      t.ok(after.directWrites > before.directWrites, `${name}: writeNow issued the write in the call`);
    } else {
      t.ok(after.writeCalls > before.writeCalls, `${name}: writeNow wrote in the call`);
      if (flushDiskType === 'SYNC_FLUSH') t.ok(after.fdatasyncCalls > before.fdatasyncCalls, 'and started the fdatasync');
    }
    await appended;
    if (flushDiskType === 'SYNC_FLUSH') t.equal(log.flushedIndex(), 3, 'the append resolved once durable');
    t.same(log.read(1, 1000).map((r) => r.index), [1, 2, 3]);
    const again = log.append(recordsFrom(4, 2, 1, () => 100));
    await again; // the pump of the earlier turn found nothing left; later appends still go out
    t.equal(log.lastIndex(), 5);
    await log.close();
    log.writeNow(); // closed: a no-op, not a throw
    const reopened = await openCommitLog({ dir, flushDiskType });
    t.same(reopened.read(1, 10_000).map((r) => r.index), [1, 2, 3, 4, 5], `${name}: all of it is there after a reopen`);
    await reopened.close();
  }
});

t.test('restartAt empties the log and restarts it at a later index, durably; appends continue there', async (t) => {
  for (const [name, indexEntriesPerFile] of [['index files of 1 Mi entries', undefined], ['index files of 16 entries', 16]] as const) {
    const dir = tempDir('api-restart');
    t.teardown(() => removeDir(dir));
    const opts = { dir, segmentBytes: 4096, ...(indexEntriesPerFile !== undefined ? { indexEntriesPerFile } : {}) };
    let log = await openCommitLog(opts);
    for (let i = 1; i <= 60; i += 10) await log.append(recordsFrom(i, 10, 1, () => 200));
    await log.deleteBefore(25);
    await log.restartAt(1000, 7);
    t.equal(log.firstIndex(), 1000, name);
    t.equal(log.lastIndex(), 999);
    t.equal(log.termAt(999), 7);
    t.throws(() => log.read(60, 1), { code: 'COMPACTED' });
    await log.close();
    // A crash right after: the empty log restarts where it was told.
    log = await openCommitLog(opts);
    t.same([log.firstIndex(), log.lastIndex(), log.termAt(999)], [1000, 999, 7], `${name}: reopened empty`);
    await log.append(recordsFrom(1000, 30, 8, () => 300));
    t.equal(log.read(1000, Infinity).length, 30);
    await log.close();
    log = await openCommitLog(opts);
    t.same([log.firstIndex(), log.lastIndex(), log.termAt(999), log.termAt(1029)], [1000, 1029, 7, 8], `${name}: reopened with entries`);
    t.same(log.read(1000, Infinity).map((r) => r.index), Array.from({ length: 30 }, (_, i) => 1000 + i));
    // And again from a log that has entries: restartAt empties it first.
    await log.restartAt(5000, 9);
    await log.append(recordsFrom(5000, 3, 9, () => 10));
    await log.close();
    log = await openCommitLog(opts);
    t.same([log.firstIndex(), log.lastIndex(), log.termAt(4999)], [5000, 5002, 9]);
    await t.rejects(log.restartAt(0, 0), { code: 'INVALID_ARGUMENT' });
    await log.close();
  }
});
