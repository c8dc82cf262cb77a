import t from 'tap';
import { helpText, parseFlags, parseServers, parseTimestampMs, splitPositionals, UsageError, type CommandSpec } from '../../src/cli/index.ts';

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

const SHORTS: CommandSpec = {
  usage: 'x',
  summary: 'x',
  flags: [
    { name: 'namesrv', short: ['n'], kind: 'string', help: 'NameServers' },
    { name: 'topic', short: ['t'], kind: 'string', help: 'topic' },
    { name: 'queues', short: ['r', 'w'], kind: 'int', help: 'queues', default: 4, min: 1 },
    { name: 'json', kind: 'bool', help: '' },
  ],
};

t.test("mqadmin's one-letter spellings parse as their long flags", async (t) => {
  t.same(parseFlags(SHORTS, ['-n', 'h:9876', '-t', 'orders', '-w', '8']), { namesrv: 'h:9876', topic: 'orders', queues: 8 });
  t.same(parseFlags(SHORTS, ['-r', '8', '-w', '8']), { queues: 8 }, 'the same value twice is fine');
  t.same(splitPositionals(SHORTS, ['create', '-t', 'orders', '--json']), { positionals: ['create'], flagArgs: ['-t', 'orders', '--json'] });
  t.match(helpText(SHORTS), /^ {2}-r, -w, --queues N +queues \(default 4\)$/m, 'the help shows them');
});

t.test('a flag given twice with different values, or a short flag without its value, is refused', async (t) => {
  t.throws(() => parseFlags(SHORTS, ['-r', '8', '-w', '4']), { name: 'UsageError', message: '--queues is given twice, as 8 and 4' });
  t.throws(() => parseFlags(SHORTS, ['--topic', 'a', '-t', 'b']), { message: /--topic is given twice/ });
  t.throws(() => parseFlags(SHORTS, ['-t', '-n', 'h:1']), { message: '-t (--topic) needs a value' });
  t.throws(() => parseFlags(SHORTS, ['-x', '1']), { message: 'unknown option -x (see --help)' });
  t.throws(() => parseFlags(SHORTS, ['-tn']), { message: /unexpected argument "-tn"/ });
  t.throws(() => parseFlags({ usage: 'x', summary: 'x', flags: [{ name: 'a', short: ['h'], kind: 'bool', help: '' }] }, []), /-h of --a is not a free single letter/, '-h stays --help');
});
