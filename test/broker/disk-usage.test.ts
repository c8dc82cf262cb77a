// The disk-use monitor: df's Use% of a statfs sample, one log line per crossing of
// diskSpaceWarningLevelRatio (never one per sample), samples on an interval that close() stops.
import fs from 'node:fs';
import os from 'node:os';
import t from 'tap';
import { DiskUsage, usedPercentOf, type DiskSpace } from '../../src/broker/index.ts';

function collectingLogger() {
  const lines: { level: string; msg: string; fields: object }[] = [];
  return {
    lines,
    logger: {
      info: (fields: object, msg: string) => lines.push({ level: 'info', msg, fields }),
      warn: (fields: object, msg: string) => lines.push({ level: 'warn', msg, fields }),
    },
  };
}

const until = async (cond: () => boolean, what: string): Promise<void> => {
  const deadline = Date.now() + 10_000; // a liveness guard only
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

t.test('the used percent is df\'s Use%: used / (used + available), reserved blocks counting as neither', async (t) => {
  t.equal(usedPercentOf({ blocks: 1000, bfree: 1000, bavail: 1000 }), 0);
  t.equal(usedPercentOf({ blocks: 1000, bfree: 100, bavail: 100 }), 90);
  // 50 blocks reserved for root: 900 used, 50 available to others: 94.7%, and 100% once bavail is 0.
  t.equal(usedPercentOf({ blocks: 1000, bfree: 100, bavail: 50 }).toFixed(1), '94.7');
  t.equal(usedPercentOf({ blocks: 1000, bfree: 50, bavail: 0 }), 100);
  t.equal(usedPercentOf({ blocks: 0, bfree: 0, bavail: 0 }), 0, 'an unsized filesystem');
});

t.test('samples of the real store directory give a percent', async (t) => {
  const { logger } = collectingLogger();
  const disk = new DiskUsage({ dir: os.tmpdir(), warningLevelPercent: 100, intervalMs: 1000, logger });
  await disk.start();
  t.teardown(() => disk.close());
  t.ok(disk.usedPercent >= 0 && disk.usedPercent <= 100, `${disk.usedPercent}`);
  const df = usedPercentOf(fs.statfsSync(os.tmpdir()));
  t.ok(Math.abs(disk.usedPercent - df) < 1, `${disk.usedPercent.toFixed(2)}% sampled, ${df.toFixed(2)}% by statfs now`);
  t.equal(disk.overWarningLevel, false);
});

t.test('crossing the level logs one warning, coming back one info line, never a line per sample', async (t) => {
  let space: DiskSpace = { blocks: 1000, bfree: 500, bavail: 500 };
  let samples = 0;
  const { lines, logger } = collectingLogger();
  const disk = new DiskUsage({
    dir: '/store',
    warningLevelPercent: 90,
    intervalMs: 10,
    logger,
    statfs: async () => {
      samples++;
      return space;
    },
  });
  await disk.start();
  t.teardown(() => disk.close());
  t.equal(disk.usedPercent, 50);
  t.equal(disk.refusal(), null, 'under the level: no refusal');
  space = { blocks: 1000, bfree: 68, bavail: 68 }; // 93.2%
  await until(() => disk.overWarningLevel, 'the crossing');
  t.equal(disk.refusal(), 'the store\'s disk is 93.2% used (diskSpaceWarningLevelRatio=90); writes resume below that');
  const after = samples;
  await until(() => samples >= after + 5, 'more samples');
  t.same(lines.map((l) => l.level), ['warn'], 'one warning for the crossing, however many samples');
  t.match(lines[0]!.fields, { usedPercent: 93.2, diskSpaceWarningLevelRatio: 90 });
  space = { blocks: 1000, bfree: 100, bavail: 100 }; // exactly 90%: not above
  await until(() => !disk.overWarningLevel, 'the return under the level');
  const back = samples;
  await until(() => samples >= back + 5, 'more samples');
  t.same(lines.map((l) => l.level), ['warn', 'info'], 'one info line for the return');
  disk.close();
  const closed = samples;
  await new Promise((r) => setTimeout(r, 50));
  t.ok(samples <= closed + 1, 'no samples after close (one may have been in flight)');
});

t.test('a test can inject the figure; a failing statfs keeps the last figure and warns once', async (t) => {
  let fail = false;
  const { lines, logger } = collectingLogger();
  const disk = new DiskUsage({
    dir: '/store',
    warningLevelPercent: 90,
    intervalMs: 10,
    logger,
    statfs: async () => {
      if (fail) throw new Error('ENOENT');
      return { blocks: 100, bfree: 40, bavail: 40 };
    },
  });
  await disk.start();
  t.teardown(() => disk.close());
  disk.injectUsedPercent(95.5);
  t.equal(disk.overWarningLevel, true, 'at once');
  t.match(disk.refusal(), /95\.5% used/);
  disk.injectUsedPercent(null);
  t.equal(disk.overWarningLevel, false);
  t.equal(disk.usedPercent, 60);
  fail = true;
  await new Promise((r) => setTimeout(r, 60));
  t.equal(disk.usedPercent, 60, 'the last figure is kept');
  t.equal(lines.filter((l) => l.msg.includes('cannot read the disk use')).length, 1, 'one warning for the failing statfs');
});
