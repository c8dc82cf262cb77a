import t from 'tap';
import { parseFlags, parseServers, parseTimestampMs, UsageError, type CommandSpec } from '../../src/cli/index.ts';

const SPEC: CommandSpec = {
  usage: 'x',
  summary: 'x',
  flags: [
    { name: 'servers', kind: 'string', help: '', required: true },
    { name: 'count', kind: 'int', help: '', min: 1, max: 10 },
    { name: 'flush', kind: 'string', help: '', default: 'SYNC_FLUSH', choices: ['SYNC_FLUSH', 'ASYNC_FLUSH'] },
    { name: 'json', kind: 'bool', help: '' },
  ],
};

t.test('flags parse in both spellings, with defaults, and --help returns null', async (t) => {
  t.same(parseFlags(SPEC, ['--servers', 'a:1', '--count=3', '--json']), { servers: 'a:1', count: 3, flush: 'SYNC_FLUSH', json: true });
  t.equal(parseFlags(SPEC, ['--servers', 'a:1', '--help']), null);
});

t.test('every bad input is one UsageError naming the flag', async (t) => {
  const bad: [string[], RegExp][] = [
    [['--count', '3'], /--servers is required/],
    [['--servers', 'a:1', '--nope'], /unknown option --nope/],
    [['--servers'], /--servers needs a value/],
    [['--servers', 'a:1', '--count', 'x'], /--count must be an integer/],
    [['--servers', 'a:1', '--count', '11'], /--count must be in 1\.\.10/],
    [['--servers', 'a:1', '--flush', 'NEVER'], /--flush must be one of/],
    [['--servers', 'a:1', '--json=1'], /--json takes no value/],
    [['stray', '--servers', 'a:1'], /unexpected argument "stray"/],
  ];
  for (const [argv, re] of bad) t.throws(() => parseFlags(SPEC, argv), { name: 'UsageError', message: re }, argv.join(' '));
});

t.test('--servers lists are checked host:port pairs', async (t) => {
  t.same(parseServers('127.0.0.1:1, h:65535'), ['127.0.0.1:1', 'h:65535']);
  t.throws(() => parseServers('nohost'), UsageError);
  t.throws(() => parseServers('h:70000'), UsageError);
  t.throws(() => parseServers(' , '), UsageError);
});

t.test('a time is ms since the epoch or ISO 8601; anything else is a UsageError naming the flag', async (t) => {
  t.equal(parseTimestampMs('0', 'from'), 0);
  t.equal(parseTimestampMs('1765029600000', 'from'), 1765029600000);
  t.equal(parseTimestampMs('2026-12-06T14:00:00Z', 'from'), Date.UTC(2026, 11, 6, 14));
  t.equal(parseTimestampMs('2026-12-06T14:00:00.250+01:00', 'from'), Date.UTC(2026, 11, 6, 13, 0, 0, 250));
  t.equal(parseTimestampMs('2026-12-06', 'from'), Date.UTC(2026, 11, 6), 'a date alone is UTC midnight');
  t.equal(parseTimestampMs('2026-12-06T14:00', 'from'), new Date(2026, 11, 6, 14).getTime(), 'no zone: local time');
  for (const bad of ['', 'last', '-5', '1.5', '12/06/2026', 'Dec 6 2026', '2026-13-45', '99999999999999999999']) {
    t.throws(() => parseTimestampMs(bad, 'from'), { name: 'UsageError', message: /^--from/ }, JSON.stringify(bad));
  }
});
