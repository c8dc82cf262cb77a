import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { PlotSeries, retentionRemovedIn, storeUsage } from '../../scripts/bench/store-size.ts';

const tmp = (t: { teardown(fn: () => void): void }): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftmq-store-size-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
};

t.test('storeUsage counts allocated blocks of every file, recursively, without the top-level logs/', async (t) => {
  const dir = tmp(t);
  fs.mkdirSync(path.join(dir, 'commitlog', 'data'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'logs'));
  fs.writeFileSync(path.join(dir, 'commitlog', 'data', 'seg'), Buffer.alloc(256 * 1024, 7));
  fs.writeFileSync(path.join(dir, 'broker.conf'), 'x=1\n');
  fs.writeFileSync(path.join(dir, 'logs', 'broker.1.log'), Buffer.alloc(1024 * 1024, 1));
  // A sparse file: a large size, (almost) nothing allocated.
  const fd = fs.openSync(path.join(dir, 'commitlog', 'sparse'), 'w');
  fs.ftruncateSync(fd, 64 * 1024 * 1024);
  fs.closeSync(fd);
  const expected = ['commitlog/data/seg', 'broker.conf', 'commitlog/sparse'].reduce((sum, f) => sum + fs.statSync(path.join(dir, f)).blocks * 512, 0);
  const u = storeUsage(dir)!;
  t.equal(u.files, 3, 'logs/ left out');
  t.equal(u.bytes, expected);
  t.ok(u.bytes >= 256 * 1024, `the written segment is counted: ${u.bytes}`);
  t.ok(u.bytes < 64 * 1024 * 1024, 'the sparse file counts by its blocks, not its size');
  const withLogs = storeUsage(dir, [])!;
  t.equal(withLogs.files, 4);
  t.ok(withLogs.bytes >= u.bytes + 1024 * 1024, 'with nothing excluded the log is counted');
  t.equal(storeUsage(path.join(dir, 'missing')), null, 'a missing directory: null');
});

t.test('retentionRemovedIn sums the segments of the retention lines of broker.<N>.log files', async (t) => {
  const dir = tmp(t);
  const line = (msg: string, fields: object): string => JSON.stringify({ level: 30, time: 1, msg, ...fields });
  fs.writeFileSync(
    path.join(dir, 'broker.1.log'),
    [line('retention removed segments', { segments: 3, firstIndex: 10 }), line('something else', { segments: 100 }), ''].join('\n'),
  );
  fs.writeFileSync(
    path.join(dir, 'broker.2.log'),
    [line('retention removed segments', { segments: 2, firstIndex: 20 }), '{"msg":"retention removed segments","segm'].join('\n'),
  );
  fs.writeFileSync(path.join(dir, 'other.txt'), line('retention removed segments', { segments: 50 }));
  t.equal(retentionRemovedIn(dir), 5, 'torn lines and other files are left out');
  t.ok(Number.isNaN(retentionRemovedIn(path.join(dir, 'missing'))), 'no log directory: NaN');
});

t.test('PlotSeries keeps one point per step, and the latest sample at the end', async (t) => {
  const s = new PlotSeries(5);
  for (let sec = 0; sec <= 12; sec++) s.add(sec, sec * 10);
  t.same(s.points, [[0, 0], [5, 50], [10, 100], [12, 120]]);
  s.add(13, NaN);
  t.same(s.points[s.points.length - 1], [12, 120], 'NaN skipped');
  s.add(15, 150);
  t.same(s.points, [[0, 0], [5, 50], [10, 100], [15, 150]], 'a sample on the step is kept, the latest between steps replaced');
  t.throws(() => new PlotSeries(0));
});

t.test('PlotSeries stays bounded over a long run: the step doubles, the points still span the run', async (t) => {
  const s = new PlotSeries(5, 100);
  for (let sec = 0; sec <= 86_400; sec++) s.add(sec, sec % 97);
  const pts = s.points;
  t.ok(pts.length <= 101, `${pts.length} points`);
  t.ok(pts.length >= 50, `not thinned too far: ${pts.length} points`);
  t.equal(pts[0]![0], 0);
  t.equal(pts[pts.length - 1]![0], 86_400, 'the last sample is there');
  t.equal(s.stepSec, 5 * 2 ** Math.ceil(Math.log2(86_400 / 5 / 100)), `step ${s.stepSec}`);
  const offStep = pts.slice(1, -1).filter(([sec], i) => sec % s.stepSec !== 0 || sec - pts[i]![0] !== s.stepSec);
  t.same(offStep, [], 'the points between the first and the latest are one step apart, on the step');
  // 1800 s at one point per 5 s: 361 points, no thinning with the default bound.
  const soak = new PlotSeries(5);
  for (let sec = 0; sec <= 1800; sec++) soak.add(sec, 1);
  t.equal(soak.points.length, 361);
  t.equal(soak.stepSec, 5);
});
