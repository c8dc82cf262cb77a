// raftmq member: its command lines parse or are refused with one line; `list` prints the
// configuration as a table; `add` prints the learner's progress and "promoted"; a refusal by
// the master is one line on stderr and exit code 1; bad input is exit code 2.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { FakeBroker } from '../client/fake-broker.ts';
import { ScriptedGroup, member } from '../client/scripted-group.ts';
import { LOADER_FLAGS, membersTable, parseMemberArgs, runMember as run } from '../../src/cli/index.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const S = ['--servers', '127.0.0.1:10911'];

t.test('each subcommand parses its arguments and flags, in any order', async (t) => {
  t.same(parseMemberArgs(['list', ...S, '--json']), { sub: 'list', target: { kind: 'servers', servers: ['127.0.0.1:10911'] }, json: true });
  t.same(parseMemberArgs(['add', 'n3', '10.0.0.4:20911', '10.0.0.4:10911', ...S]), {
    sub: 'add',
    target: { kind: 'servers', servers: ['127.0.0.1:10911'] },
    nodeId: 'n3',
    peerAddr: '10.0.0.4:20911',
    clientAddr: '10.0.0.4:10911',
    learner: false,
    force: false,
    timeoutMs: 600_000,
  });
  t.match(parseMemberArgs(['add', '--learner', 'n3', ...S, '10.0.0.4:20911', '--timeout-ms=5000', '10.0.0.4:10911']), {
    sub: 'add',
    nodeId: 'n3',
    peerAddr: '10.0.0.4:20911',
    clientAddr: '10.0.0.4:10911',
    learner: true,
    timeoutMs: 5000,
  });
  t.same(parseMemberArgs(['promote', 'n3', ...S]), { sub: 'promote', target: { kind: 'servers', servers: ['127.0.0.1:10911'] }, nodeId: 'n3', force: false });
  t.same(parseMemberArgs(['list', '-n', '127.0.0.1:9876;127.0.0.2:9876', '--broker-name', 'broker-b']), {
    sub: 'list',
    target: { kind: 'namesrv', namesrv: ['127.0.0.1:9876', '127.0.0.2:9876'], brokerName: 'broker-b' },
    json: false,
  });
  t.same(parseMemberArgs(['remove', ...S, 'n1', '--force']), { sub: 'remove', target: { kind: 'servers', servers: ['127.0.0.1:10911'] }, nodeId: 'n1', force: true });
  t.match(parseMemberArgs(['--help']), { sub: 'help', text: /raftmq member list[^]*raftmq member add[^]*raftmq member promote[^]*raftmq member remove/ });
  t.match(parseMemberArgs(['add', '--help']), { sub: 'help', text: /^usage: raftmq member add ID PEER_ADDR CLIENT_ADDR/ });
});

t.test('every bad command line is one UsageError line saying what is wrong', async (t) => {
  const bad: Array<[string[], RegExp]> = [
    [[], /^member needs a command: list, add, promote or remove/],
    [['frob', ...S], /^unknown member command "frob"/],
    [['add', 'n3', '10.0.0.4:20911', ...S], /^member add needs ID PEER_ADDR CLIENT_ADDR, got only n3 10\.0\.0\.4:20911/],
    [['promote', ...S], /^member promote needs ID \(see --help\)/],
    [['remove', 'n1', 'n2', ...S], /^unexpected argument "n2"/],
    [['list', 'n1', ...S], /^unexpected argument "n1"/],
    [['promote', 'n3'], /^give --servers H:P\[,H:P\.\.\.\] or --namesrv/],
    [['promote', 'n3', ...S, '-n', '127.0.0.1:9876'], /^give --servers or --namesrv, not both/],
    [['promote', 'n3', ...S, '--broker-name', 'broker-a'], /^--broker-name picks a group the NameServer knows/],
    [['promote', 'n3', '--servers', 'nohost'], /^--servers: "nohost" is not host:port/],
    [['promote', 'n3', ...S, '--learner'], /^unknown option --learner/],
    [['remove', 'n-1', ...S], /^node id "n-1" is not valid/],
    [['add', 'n3', '10.0.0.4', '10.0.0.4:10911', ...S], /^peer address "10\.0\.0\.4" is not host:port/],
    [['add', 'n3', '10.0.0.4:20911', '10.0.0.4:99999', ...S], /^client address "10\.0\.0\.4:99999" is not host:port/],
    [['add', 'n3', '10.0.0.4:20911', '10.0.0.4:20911', ...S], /^peer address and client address are both/],
    [['add', 'n3', '10.0.0.4:20911', '10.0.0.4:10911', ...S, '--timeout-ms', '0'], /^--timeout-ms must be in 1\.\./],
  ];
  for (const [argv, message] of bad) {
    t.throws(() => parseMemberArgs(argv), { name: 'UsageError', message }, argv.join(' '));
    try {
      parseMemberArgs(argv);
    } catch (err) {
      t.notMatch((err as Error).message, /\n/, 'one line');
    }
  }
});

t.test('the table: one row per member, the master marked, "-" where the answer is not the master\'s', async (t) => {
  const lines = membersTable({
    answeredBy: 'n1',
    configIndex: 42,
    changePending: true,
    members: [member('n0', 'VOTER', { isMaster: true, match: null, lag: null, active: null }), member('n3', 'LEARNER', { match: null, lag: null, active: null })],
  });
  t.equal(lines[0], 'configuration index 42, answered by n1 (not the master: match, lag and active unknown); a change is pending');
  t.match(lines[1], /^id\s+kind\s+master\s+peer\s+client\s+match\s+lag\s+active$/);
  t.match(lines[2], /^n0\s+VOTER\s+\*\s+127\.0\.0\.1:20911\s+127\.0\.0\.1:10911\s+-\s+-\s+-$/);
  t.match(lines[3], /^n3\s+LEARNER\s+127\.0\.0\.1:20914\s+127\.0\.0\.1:10914\s+-\s+-\s+-$/);
  const fromMaster = membersTable({ answeredBy: 'n0', configIndex: 0, changePending: false, members: [member('n0', 'VOTER', { isMaster: true }), member('n1', 'VOTER', { match: 90, lag: 10, active: false })] });
  t.equal(fromMaster[0], 'configuration index 0, answered by n0');
  t.match(fromMaster[3], /^n1\s+VOTER\s+127\.0\.0\.1:20912\s+127\.0\.0\.1:10912\s+90\s+10\s+no$/);
});

/** run() in this process, with what it prints. */
async function runMember(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    return { code: await run(argv), out, err };
  } finally {
    Object.assign(console, { log, error });
  }
}

t.test('list, add with progress lines and "promoted", and a refusal as one line with exit code 1', async (t) => {
  const broker = await FakeBroker.start('n0');
  t.teardown(() => broker.close());
  const g = new ScriptedGroup(broker);
  const servers = ['--servers', broker.addr];

  const list = await runMember(['list', ...servers]);
  t.equal(list.code, 0);
  t.equal(list.out.join('\n').split('\n').length, 5, 'the head, the column names, three voters');

  g.learnerLag = 300;
  g.lagStep = 100;
  g.refuse = (f) => (f.op === 'promote' && g.learnerLag > 0 ? { code: 'MEMBER_CHANGE_REFUSED', message: `learner ${f.nodeId} lags behind` } : undefined);
  const add = await runMember(['add', 'n3', '127.0.0.1:20914', '127.0.0.1:10914', ...servers]);
  t.equal(add.code, 0, add.err.join('\n'));
  t.match(add.out[0], /^n3 catching up: match \d+, lag \d+$/);
  t.match(add.out.at(-1), /^n3 promoted: a voter \(configuration index 12\)$/);

  g.refuse = () => ({ code: 'MEMBER_CHANGE_REFUSED', message: 'removing n0 would leave 1 of 3 voters live\n(a quorum needs 2); use --force' });
  const remove = await runMember(['remove', 'n0', ...servers]);
  t.equal(remove.code, 1);
  t.same(remove.err, ['raftmq member remove: MEMBER_CHANGE_REFUSED: removing n0 would leave 1 of 3 voters live (a quorum needs 2); use --force']);

  g.refuse = () => 'drop';
  const lost = await runMember(['promote', 'n3', ...servers]);
  t.equal(lost.code, 1);
  t.match(lost.err, [/^raftmq member promote: CONNECTION_LOST: .*the change may have been applied: see raftmq member list$/]);
});

t.test('through the raftmq command: bad input is exit code 2 with one line on stderr', async (t) => {
  for (const argv of [['member', 'frob'], ['member', 'add', 'n3', 'nohost', '127.0.0.1:1', '--servers', '127.0.0.1:1']]) {
    const r = spawnSync(process.execPath, [...LOADER_FLAGS, MAIN, ...argv], { encoding: 'utf8', timeout: 60_000 });
    t.equal(r.status, 2, argv.join(' '));
    t.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    t.match(r.stderr, /^raftmq member: /);
  }
  const help = spawnSync(process.execPath, [...LOADER_FLAGS, MAIN, '--help'], { encoding: 'utf8', timeout: 60_000 });
  t.match(help.stdout, /\n {2}member {11}member list \| add \| promote \| remove/, 'listed by raftmq --help');
});
