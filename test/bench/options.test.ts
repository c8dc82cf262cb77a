import t from 'tap';
import { helpText, UsageError, type FlagValues } from '../../src/cli/index.ts';
import { alternatingRuns, checkCompareFlags, onOffAxisOf, optionsFrom, parseBenchFlags, resultLabels, SPEC } from '../../scripts/bench/options.ts';

const flags = (...argv: string[]): FlagValues => {
  const f = parseBenchFlags(argv);
  if (f === null) throw new Error('--help');
  return f;
};
const single = (...argv: string[]) => optionsFrom(flags(...argv), false);

t.test('no flags: one group, no NameServer, idempotent producers, as bench ran before --groups', async (t) => {
  const o = single();
  t.equal(o.groups, 1);
  t.equal(o.idempotence, true);
  t.equal(o.metrics, false);
  t.match(o, { nodes: 3, size: 1024, inflight: 256, producers: 1, durationSec: 10, warmupSec: 3, flush: 'SYNC_FLUSH', queues: 4, runs: 3 });
  t.strictSame(resultLabels(o), {}, 'the result line has no new keys');
  t.equal(onOffAxisOf(flags()), null);
});

t.test('--groups and --idempotence', async (t) => {
  const o = single('--groups', '2', '--queues', '8', '--idempotence', 'off');
  t.equal(o.groups, 2);
  t.equal(o.queues, 8, '--queues is per group');
  t.equal(o.idempotence, false);
  t.strictSame(resultLabels(o), { groups: 2, idempotence: 'off' });
  t.equal(single('--idempotence', 'on').idempotence, true);
  t.equal(single('--idempotence', 'both').idempotence, true, 'both: the runs switch it, on is the base');
  t.throws(() => flags('--groups', '0'), UsageError);
  t.throws(() => flags('--groups', '9'), /--groups must be in 1\.\.8/);
  t.throws(() => flags('--idempotence', 'yes'), /--idempotence must be one of on, off, both/);
  t.throws(() => single('--groups', '2', '--metrics', 'on'), /--metrics on works with one group/);
  t.throws(() => single('--groups', '2', '--metrics', 'both'), /--metrics both works with one group/);
  t.equal(single('--groups', '2', '--metrics', 'off').metrics, false);
});

t.test('the flags that existed before keep their checks', async (t) => {
  t.throws(() => single('--nodes', '4'), /--nodes should be odd/);
  t.throws(() => single('--producers', '8', '--inflight', '4'), /must not exceed --inflight/);
  t.equal(optionsFrom(flags('--compare'), true).durationSec, 5);
  t.equal(optionsFrom(flags('--compare'), true).runs, 1);
  t.match(single('--set', 'directIoEnable=false').brokerConf, { directIoEnable: 'false' });
});

t.test('"both" on one axis at a time, and not with per-run outputs', async (t) => {
  t.equal(onOffAxisOf(flags('--idempotence', 'both')), 'idempotence');
  t.equal(onOffAxisOf(flags('--metrics', 'both')), 'metrics');
  t.equal(onOffAxisOf(flags('--idempotence', 'both', '--groups', '2')), 'idempotence');
  t.throws(() => onOffAxisOf(flags('--idempotence', 'both', '--metrics', 'both')), /one setting at a time/);
  t.throws(() => onOffAxisOf(flags('--idempotence', 'both', '--plot', 'x.svg')), /--plot works with one run at a time, not with --idempotence both/);
  t.throws(() => onOffAxisOf(flags('--metrics', 'both', '--cpu-prof', 'd')), /--cpu-prof .* not with --metrics both/);
  t.throws(() => onOffAxisOf(flags('--idempotence', 'both', '--trace', 'd', '--inflight', '1')), /--trace/);
});

t.test('--compare refuses what its report cannot show', async (t) => {
  t.doesNotThrow(() => checkCompareFlags(flags('--compare', '--nodes', '3')));
  t.doesNotThrow(() => checkCompareFlags(flags('--compare', '--idempotence', 'on', '--groups', '1')));
  for (const extra of [['--groups', '2'], ['--idempotence', 'off'], ['--idempotence', 'both'], ['--metrics', 'both'], ['--plot', 'x'], ['--cpu-prof', 'd'], ['--trace', 'd']]) {
    t.throws(() => checkCompareFlags(flags('--compare', ...extra)), /not with --compare/, extra.join(' '));
  }
});

t.test('on/off runs alternate which mode goes first, pair by pair', async (t) => {
  t.strictSame(alternatingRuns(1).map((r) => `${r.pair}${r.mode}`), ['1off', '1on']);
  t.strictSame(alternatingRuns(5).map((r) => `${r.pair}${r.mode}`), ['1off', '1on', '2on', '2off', '3off', '3on', '4on', '4off', '5off', '5on']);
  const runs = alternatingRuns(4);
  t.equal(runs.filter((r) => r.mode === 'on').length, 4);
  t.equal(runs.filter((r, i) => i % 2 === 0 && r.mode === 'on').length, 2, 'each mode goes first in half the pairs');
  t.throws(() => alternatingRuns(0), RangeError);
  t.throws(() => alternatingRuns(1.5), RangeError);
});

t.test('result lines of an on/off comparison lead with the mode', async (t) => {
  const o = single('--groups', '2', '--idempotence', 'both');
  t.strictSame(Object.keys(resultLabels(o, { axis: 'idempotence', mode: 'off' })), ['idempotence', 'groups']);
  t.strictSame(resultLabels(o, { axis: 'idempotence', mode: 'on' }), { idempotence: 'on', groups: 2 });
  const m = single('--metrics', 'both', '--idempotence', 'off');
  t.strictSame(resultLabels(m, { axis: 'metrics', mode: 'on' }), { metrics: 'on', idempotence: 'off' });
});

t.test('--help names the new flags and what the server figures cover', async (t) => {
  const help = helpText(SPEC);
  t.match(help, /--groups N/);
  t.match(help, /--idempotence VALUE/);
  t.match(help, /Server CPU and RSS\s+cover every replica of every group/);
  t.equal(parseBenchFlags(['--help']), null);
});
