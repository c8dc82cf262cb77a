// LogAppender against a real commitlog with a byte budget: DISK_FULL never reaches the caller,
// batches resolve only once durable and in order, and a truncation waits for the batches that
// wait for space (the cut comes after them).
import t, { type Test } from 'tap';
import { LogAppender } from '../../src/broker/index.ts';
import { openCommitLog, type DiskFaults } from '../../src/commitlog/index.ts';
import { EntryType, type Entry } from '../../src/raft/index.ts';
import { removeDir, tempDir } from '../commitlog/helpers.ts';

const entries = (first: number, count: number, term: number, bytes = 100): Entry[] =>
  Array.from({ length: count }, (_, k) => ({ index: first + k, term, type: EntryType.Normal, data: Buffer.alloc(bytes, first + k) }));

async function setup(t: Test, segmentBytes?: number) {
  const dir = tempDir('appender');
  const faults: DiskFaults = { bytesLeft: Infinity };
  const log = await openCommitLog({ dir, faults, directIo: false, log: () => undefined, ...(segmentBytes !== undefined ? { segmentBytes } : {}) });
  const lines: string[] = [];
  const logger = { info: (_f: object, m: string) => lines.push(`info ${m}`), warn: (_f: object, m: string) => lines.push(`warn ${m}`), error: (_f: object, m: string) => lines.push(`error ${m}`) };
  const appender = new LogAppender({ log, logger, retryMs: 10 });
  t.teardown(async () => {
    faults.bytesLeft = Infinity;
    appender.abandon();
    await log.close();
    removeDir(dir);
  });
  const done: string[] = [];
  const track = (p: Promise<void>, name: string) =>
    p.then(
      () => done.push(name),
      (e: Error) => done.push(`${name} failed: ${e.message}`),
    );
  const settle = () => new Promise((r) => setTimeout(r, 60));
  /** Until a write found the disk full (on a busy machine that can take longer than a settle). */
  const untilStalled = async () => {
    for (const started = Date.now(); !appender.stalled; await new Promise((r) => setTimeout(r, 5))) {
      if (Date.now() - started > 10_000) throw new Error('the appender did not stall within 10 s');
    }
  };
  const terms = () => log.read(1, Infinity).map((r) => `${r.index}@${r.term}`);
  return { log, faults, appender, lines, done, track, settle, untilStalled, terms };
}

t.test('batches that find the disk full wait, in order, and resolve once durable after space returns', async (t) => {
  const s = await setup(t);
  await s.appender.append(entries(1, 3, 1));
  s.faults.bytesLeft = 0;
  const a = s.track(s.appender.append(entries(4, 2, 1)), 'a');
  const b = s.track(s.appender.append(entries(6, 1, 1)), 'b');
  await s.untilStalled();
  await s.settle();
  t.same(s.done, [], 'neither resolved nor rejected');
  t.ok(s.appender.stalled);
  t.equal(s.appender.lastIndex(), 6, 'the caller\'s view of the log end includes what waits');
  const c = s.track(s.appender.append(entries(7, 2, 1)), 'c'); // appended during the stall: waits behind
  await s.settle();
  // Flushed, not last: a retry in flight counts its records in lastIndex until its write fails.
  t.equal(s.log.flushedIndex(), 3, 'nothing after 3 is durable while the disk is full');
  s.faults.bytesLeft = Infinity;
  await Promise.all([a, b, c]);
  t.same(s.done, ['a', 'b', 'c'], 'resolved in order');
  t.same(s.terms(), ['1@1', '2@1', '3@1', '4@1', '5@1', '6@1', '7@1', '8@1']);
  t.notOk(s.appender.stalled);
  t.same(s.lines.map((l) => l.split(':')[0]), ['warn commitlog write failed', 'info commitlog writes go through again'], 'one line each way');
});

t.test('a truncation during a stall waits until the waiting batches are in the log, then cuts them', async (t) => {
  const s = await setup(t);
  await s.appender.append(entries(1, 3, 1));
  s.faults.bytesLeft = 0;
  const old = s.track(s.appender.append(entries(4, 3, 1)), 'old');
  await s.untilStalled();
  // A new leader (term 2) replaces 4.. : the cut waits for 4..6 to be written first.
  const cut = s.appender.truncateAfter(3).then(() => s.done.push('cut'));
  await s.settle();
  t.same(s.done, [], 'the cut waits for space');
  s.faults.bytesLeft = Infinity;
  await cut;
  await old;
  t.same(s.done, ['old', 'cut'], 'the old batch became durable before the cut');
  t.equal(s.appender.lastIndex(), 3);
  await s.appender.append(entries(4, 2, 2));
  t.same(s.terms(), ['1@1', '2@1', '3@1', '4@2', '5@2']);
});

t.test('abandon() rejects the batches that wait for space (the replica stops)', async (t) => {
  const s = await setup(t);
  await s.appender.append(entries(1, 1, 1));
  s.faults.bytesLeft = 0;
  const p = s.appender.append(entries(2, 1, 1));
  await s.untilStalled();
  s.appender.abandon();
  await t.rejects(p, { name: 'AppendAbandoned' });
  await t.rejects(s.appender.append(entries(3, 1, 1)), { name: 'AppendAbandoned' });
});

t.test('a write error other than a full disk is passed on', async (t) => {
  const s = await setup(t);
  await s.appender.append(entries(1, 1, 1));
  s.faults.failDatasync = true;
  await t.rejects(s.appender.append(entries(2, 1, 1)), { code: 'IO_ERROR' });
  t.notOk(s.appender.stalled);
});

t.test('a cut that itself finds the disk full (nothing waits) is tried again after retryMs, not at once in a loop', async (t) => {
  const s = await setup(t);
  await s.appender.append(entries(1, 5, 1));
  let calls = 0;
  const realTruncate = s.log.truncateAfter.bind(s.log);
  s.log.truncateAfter = (index: number) => {
    calls++;
    if (calls <= 3) return Promise.reject(Object.assign(new Error('disk full while cutting'), { code: 'DISK_FULL' }));
    return realTruncate(index);
  };
  const started = performance.now();
  await s.appender.truncateAfter(2);
  t.equal(calls, 4, 'three refusals, then the cut');
  t.ok(performance.now() - started >= 25, 'with retryMs (10) between the tries');
  t.same(s.terms(), ['1@1', '2@1']);
  await s.appender.append(entries(3, 1, 2));
  t.same(s.terms(), ['1@1', '2@1', '3@2'], 'appends continue after the cut');
});
