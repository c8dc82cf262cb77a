// The Admin client's membership calls against a scripted master: addMember adds a learner, waits
// out "lags" refusals while reading its progress, then promotes it; other refusals are final; a
// change whose answer was lost is never sent again; bad input never leaves the process.
import t from 'tap';
import type { Test } from 'tap';
import { FakeBroker, fakeMasterAndSlave, type AnyFrame } from './fake-broker.ts';
import { ScriptedGroup, member } from './scripted-group.ts';
import { Admin, RaftmqError, type MembersInfo } from '../../src/client/index.ts';

const PEER = '127.0.0.1:20914';
const CLIENT = '127.0.0.1:10914';

async function group(t: Test): Promise<{ g: ScriptedGroup; admin: Admin }> {
  const broker = await FakeBroker.start('n0');
  t.teardown(() => broker.close());
  const admin = new Admin({ servers: [broker.addr], timeoutMs: 2000, backoffMsMin: 5, backoffMsMax: 10 });
  t.teardown(() => admin.close());
  return { g: new ScriptedGroup(broker), admin };
}

const lags = (f: AnyFrame) => (f.op === 'promote' ? { code: 'MEMBER_CHANGE_REFUSED', message: `learner ${f.nodeId} lags 300 entries behind the master; promote it once caught up` } : undefined);

async function failure(p: Promise<unknown>): Promise<RaftmqError> {
  return p.then(
    () => {
      throw new Error('expected a failure');
    },
    (err: unknown) => err as RaftmqError,
  );
}

t.test('addMember adds a learner, waits while the master says it lags, reports its progress, then promotes it', async (t) => {
  const { g, admin } = await group(t);
  g.learnerLag = 400;
  g.lagStep = 100;
  g.refuse = (f) => (g.learnerLag > 0 ? lags(f) : undefined);
  const seen: Array<number | null> = [];
  const info = await admin.addMember('n3', PEER, CLIENT, { onProgress: (p) => seen.push(p.lag) });
  t.equal(g.changes('add').length, 1, 'one add');
  t.match(g.changes('add')[0], { op: 'add', nodeId: 'n3', peerAddr: PEER, clientAddr: CLIENT });
  t.notOk('learner' in g.changes('add')[0]!, 'always a learner: the wire has no flag for it');
  t.same(seen, [300, 200, 100, 0], 'the lag as it fell, one read per poll');
  t.ok(g.changes('promote').length >= 2, 'asked again after a refusal');
  t.equal(info.members.find((m) => m.nodeId === 'n3')?.kind, 'VOTER');
});

t.test('with learner: true it stops at the learner', async (t) => {
  const { g, admin } = await group(t);
  const info = await admin.addMember('n3', PEER, CLIENT, { learner: true });
  t.equal(g.changes().length, 1);
  t.equal(info.members.find((m) => m.nodeId === 'n3')?.kind, 'LEARNER');
});

t.test('a learner that is already there at the same addresses counts as added; at other addresses the refusal stands', async (t) => {
  const { g, admin } = await group(t);
  g.members.push({ ...member('n3', 'LEARNER'), peerAddr: PEER, clientAddr: CLIENT });
  g.refuse = (f) => (f.op === 'add' ? { code: 'MEMBER_CHANGE_REFUSED', message: `${f.nodeId} is already a learner` } : undefined);
  const info = await admin.addMember('n3', PEER, CLIENT);
  t.equal(info.members.find((m) => m.nodeId === 'n3')?.kind, 'VOTER', 'went on to promote it');
  const err = await failure(admin.addMember('n3', '127.0.0.1:29999', CLIENT));
  t.equal(err.code, 'MEMBER_CHANGE_REFUSED');
  t.match(err.message, /already/);
});

t.test('a refusal that is not a lag is final: no second promote', async (t) => {
  const { g, admin } = await group(t);
  g.refuse = (f) => (f.op === 'promote' ? { code: 'MEMBER_CHANGE_REFUSED', message: 'a membership change is in flight' } : undefined);
  const err = await failure(admin.addMember('n3', PEER, CLIENT));
  t.equal(err.code, 'MEMBER_CHANGE_REFUSED');
  t.match(err.message, /in flight/);
  t.equal(g.changes('promote').length, 1);
});

t.test('at the deadline: TIMEOUT naming the lag; the learner stays', async (t) => {
  const { g, admin } = await group(t);
  g.learnerLag = 5000;
  g.lagStep = 1;
  g.refuse = lags;
  const started = Date.now();
  const err = await failure(admin.addMember('n3', PEER, CLIENT, { timeoutMs: 700 }));
  t.equal(err.code, 'TIMEOUT');
  t.match(err.message, /n3 is still a learner after \d+ ms, lag 49\d\d entries \(match \d+\); the master said: learner n3 lags/);
  t.equal(err.outcome, 'not-stored', 'the promotion was not applied');
  t.ok(Date.now() - started < 2000, 'ends near the deadline');
  t.equal(g.members.find((m) => m.nodeId === 'n3')?.kind, 'LEARNER');
});

t.test('a change whose answer was lost is not sent again; the error says its outcome is unknown', async (t) => {
  const { g, admin } = await group(t);
  g.refuse = () => 'drop';
  const err = await failure(admin.removeMember('n2'));
  t.equal(err.code, 'CONNECTION_LOST');
  t.equal(err.outcome, 'unknown');
  t.equal(g.changes().length, 1, 'one try');
});

t.test('a lost answer to the add is settled by reading the configuration, not by sending it again', async (t) => {
  const { g, admin } = await group(t);
  g.refuse = (f) => {
    if (f.op !== 'add') return undefined;
    g.members.push({ ...member('n3', 'LEARNER'), peerAddr: PEER, clientAddr: CLIENT }); // applied, then the answer is lost
    return 'drop';
  };
  const info = await admin.addMember('n3', PEER, CLIENT, { learner: true });
  t.equal(g.changes('add').length, 1);
  t.equal(info.members.find((m) => m.nodeId === 'n3')?.kind, 'LEARNER');
});

t.test('refusals before anything was stored are retried: NO_QUORUM, then applied', async (t) => {
  const { g, admin } = await group(t);
  let refused = 0;
  g.refuse = () => (refused++ === 0 ? { code: 'NO_QUORUM', message: 'no quorum yet' } : undefined);
  const info = await admin.promoteMember('n1');
  t.equal(g.changes().length, 2);
  t.ok(info.configIndex > 10);
});

t.test('bad input is a TypeError naming what is wrong, and nothing is sent', async (t) => {
  const { g, admin } = await group(t);
  const bad: Array<[() => Promise<unknown>, RegExp]> = [
    [() => admin.addMember('n-3', PEER, CLIENT), /node id "n-3" is not valid.*dLegerPeers/],
    [() => admin.addMember('', PEER, CLIENT), /node id "" is not valid/],
    [() => admin.addMember('n3', 'nohost', CLIENT), /peer address "nohost" is not host:port/],
    [() => admin.addMember('n3', PEER, '127.0.0.1:70000'), /client address "127.0.0.1:70000" is not host:port/],
    [() => admin.addMember('n3', PEER, PEER), /both 127.0.0.1:20914/],
    [() => admin.addMember('n3', PEER, CLIENT, { timeoutMs: 0 }), /timeoutMs must be a positive integer/],
    [() => admin.promoteMember('n 3'), /node id "n 3"/],
    [() => admin.removeMember(undefined as unknown as string), /node id undefined is not valid/],
  ];
  for (const [call, message] of bad) await t.rejects(call(), { name: 'TypeError', message }, String(message));
  t.equal(g.broker.requests.length, 0);
});

t.test('members() asks the master, found through a slave', async (t) => {
  const { master, slave } = await fakeMasterAndSlave(t);
  const view = (answeredBy: string, match: number | null): MembersInfo => ({ answeredBy, configIndex: 0, changePending: false, members: [member('n0', 'VOTER', { isMaster: true, match })] });
  master.members = view('n0', 7);
  slave.members = view('n1', null);
  const admin = new Admin({ servers: [slave.addr] });
  t.teardown(() => admin.close());
  t.equal((await admin.members()).answeredBy, 'n0');
  t.equal(slave.count('members'), 0);
  t.equal((await admin.members(slave.addr)).answeredBy, 'n1', 'or the one server named');
});
