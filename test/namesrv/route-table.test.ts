// The route table's rules (src/namesrv/route-table.ts), with the clock as a plain number: the
// term rule for a group's master, slaves by brokerId, QueueData by term, version bumps only on a
// change a client would see, expiry, limits and bad input.
import t from 'tap';
import fc from 'fast-check';
import { RouteTable } from '../../src/namesrv/index.ts';
import { isRaftmqError, PERM_READ_WRITE, type BrokerRegistration, type TopicConfigInfo } from '../../src/protocol/index.ts';

const topic = (name: string, queues = 4): TopicConfigInfo => ({ topic: name, readQueueNums: queues, writeQueueNums: queues, perm: PERM_READ_WRITE });

function reg(nodeId: string, over: Partial<BrokerRegistration> = {}): BrokerRegistration {
  const role = over.role ?? 'SLAVE';
  const n = Number(nodeId.replace(/\D/g, '') || '0');
  return {
    clusterName: 'DefaultCluster',
    brokerName: 'broker-a',
    brokerId: role === 'MASTER' ? 0 : n + 1,
    nodeId,
    brokerAddr: `127.0.0.1:${10911 + n}`,
    role,
    term: 1,
    topics: [topic('T')],
    ...over,
  };
}

const master = (nodeId: string, term: number, over: Partial<BrokerRegistration> = {}) => reg(nodeId, { role: 'MASTER', brokerId: 0, term, ...over });
const slave = (nodeId: string, term: number, over: Partial<BrokerRegistration> = {}) => reg(nodeId, { role: 'SLAVE', term, ...over });
const addrs = (table: RouteTable, brokerName = 'broker-a') => table.brokerDatas(0).find((b) => b.brokerName === brokerName)?.brokerAddrs;

t.test('a group: the master under id 0, each slave under its own id', async (t) => {
  const table = new RouteTable();
  table.register(master('n0', 3), 0);
  table.register(slave('n1', 3), 0);
  table.register(slave('n2', 3), 0);
  t.same(addrs(table), { 0: '127.0.0.1:10911', 2: '127.0.0.1:10912', 3: '127.0.0.1:10913' });
  const data = table.brokerDatas(0)[0]!;
  t.equal(data.cluster, 'DefaultCluster');
  t.same(data.replicas.map((r) => [r.nodeId, r.role, r.brokerId, r.term]), [['n0', 'MASTER', 0, 3], ['n1', 'SLAVE', 2, 3], ['n2', 'SLAVE', 3, 3]]);
});

t.test('the term rule: of two MASTER claims the higher term is id 0; the deposed one is left out of brokerAddrs', async (t) => {
  const table = new RouteTable();
  table.register(master('n0', 3), 0);
  table.register(slave('n2', 3), 0);
  // n1 won term 4 while n0, cut off, has not heard of it and still claims MASTER at term 3.
  const events = table.register(master('n1', 4), 0);
  t.same(addrs(table), { 0: '127.0.0.1:10912', 3: '127.0.0.1:10913' });
  t.match(events, [{ kind: 'added' }, { kind: 'master', brokerName: 'broker-a', nodeId: 'n1', addr: '127.0.0.1:10912', term: 4 }]);
  t.equal(table.brokerDatas(0)[0]!.replicas.find((r) => r.nodeId === 'n0')?.role, 'MASTER', 'the replica list still says what n0 claims');
  // A renewal of the stale claim does not bring it back.
  table.register(master('n0', 3), 1000);
  t.equal(addrs(table)?.[0], '127.0.0.1:10912');
  // Arrival order does not matter.
  const other = new RouteTable();
  other.register(master('n1', 4), 0);
  other.register(master('n0', 3), 0);
  t.equal(addrs(other)?.[0], '127.0.0.1:10912');
});

t.test('the term rule: a SLAVE at a higher term than the only MASTER claim means that master is stale', async (t) => {
  const table = new RouteTable();
  table.register(master('n0', 3), 0);
  table.register(slave('n1', 3), 0);
  t.equal(addrs(table)?.[0], '127.0.0.1:10911');
  // n1 campaigns (term 4): whoever wins, n0's term-3 leadership is over.
  const events = table.register(slave('n1', 4), 0);
  t.same(addrs(table), { 2: '127.0.0.1:10912' }, 'no id 0 while no master of term 4 has registered');
  t.match(events, [{ kind: 'master', brokerName: 'broker-a', nodeId: '' }]);
  table.register(master('n0', 4), 0);
  t.equal(addrs(table)?.[0], '127.0.0.1:10911', 'n0 re-elected at term 4 is id 0 again');
  // A slave at the same term as the master is the normal case.
  table.register(slave('n2', 4), 0);
  t.equal(addrs(table)?.[0], '127.0.0.1:10911');
});

t.test('two slaves under one brokerId: the higher term is listed', async (t) => {
  const table = new RouteTable();
  table.register(slave('n1', 5, { brokerId: 2 }), 0);
  table.register(slave('n7', 6, { brokerId: 2, brokerAddr: '127.0.0.1:20000' }), 0);
  t.same(addrs(table), { 2: '127.0.0.1:20000' });
  table.register(slave('n1', 7, { brokerId: 2 }), 0);
  t.same(addrs(table), { 2: '127.0.0.1:10912' });
});

t.test('QueueData comes from the highest-term registration listing the topic; a deleted topic goes once every replica says so', async (t) => {
  const table = new RouteTable();
  table.register(master('n0', 2, { topics: [topic('T', 8), topic('U')] }), 0);
  table.register(slave('n1', 1, { topics: [topic('T', 4), topic('U')] }), 0);
  t.match(table.topicRoute('T', 0)?.queueDatas, [{ brokerName: 'broker-a', readQueueNums: 8, writeQueueNums: 8, perm: PERM_READ_WRITE, topicSysFlag: 0 }]);
  // A slave that has applied the growth first (higher term) counts over a master that has not yet.
  table.register(slave('n2', 3, { topics: [topic('T', 16)] }), 0);
  t.equal(table.topicRoute('T', 0)?.queueDatas[0]?.writeQueueNums, 16);
  // Delete U: it stays while one replica still lists it.
  table.register(master('n0', 3, { topics: [topic('T', 16)] }), 0);
  t.ok(table.topicRoute('U', 0), 'n1 still lists U');
  t.same(table.topicList(), ['T', 'U']);
  table.register(slave('n1', 3, { topics: [topic('T', 16)] }), 0);
  t.equal(table.topicRoute('U', 0), null, 'gone once every replica registered without it');
  t.same(table.topicList(), ['T']);
});

t.test('a topic route lists only the groups that hold it, sorted by brokerName, with their BrokerData', async (t) => {
  const table = new RouteTable();
  table.register(master('n0', 1, { brokerName: 'broker-c', topics: [topic('T', 2)] }), 0);
  table.register(master('n1', 1, { brokerName: 'broker-a', topics: [topic('T', 4), topic('A')] }), 0);
  table.register(master('n2', 1, { brokerName: 'broker-b', topics: [topic('B')] }), 0);
  const route = table.topicRoute('T', 0)!;
  t.same(route.queueDatas.map((q) => [q.brokerName, q.writeQueueNums]), [['broker-a', 4], ['broker-c', 2]]);
  t.same(route.brokerDatas.map((b) => [b.brokerName, b.brokerAddrs[0]]), [['broker-a', '127.0.0.1:10912'], ['broker-c', '127.0.0.1:10911']]);
  t.equal(table.topicRoute('nope', 0), null);
  t.same(table.topicList(), ['A', 'B', 'T']);
  table.register(master('n3', 1, { clusterName: 'Other', brokerName: 'broker-x', topics: [] }), 0);
  const info = table.clusterInfo(0);
  t.same(info.clusterAddrTable, { DefaultCluster: ['broker-a', 'broker-b', 'broker-c'], Other: ['broker-x'] });
  t.same(Object.keys(info.brokerAddrTable), ['broker-a', 'broker-b', 'broker-c', 'broker-x']);
  t.equal(info.brokerAddrTable['broker-x']?.cluster, 'Other');
});

t.test('the version moves on every change a client would see, never on a plain renewal', async (t) => {
  const table = new RouteTable();
  const steps: [string, BrokerRegistration, boolean][] = [
    ['new replica', slave('n1', 1), true],
    ['renewal', slave('n1', 1), false],
    ['role', master('n1', 1), true],
    ['renewal of the master', master('n1', 1), false],
    ['term', master('n1', 2), true],
    ['address', master('n1', 2, { brokerAddr: '127.0.0.1:3000' }), true],
    ['topics grown', master('n1', 2, { brokerAddr: '127.0.0.1:3000', topics: [topic('T', 8)] }), true],
    ['topic added', master('n1', 2, { brokerAddr: '127.0.0.1:3000', topics: [topic('T', 8), topic('A')] }), true],
    ['the same topics in another order', master('n1', 2, { brokerAddr: '127.0.0.1:3000', topics: [topic('A'), topic('T', 8)] }), false],
    ['perm', master('n1', 2, { brokerAddr: '127.0.0.1:3000', topics: [topic('A'), { ...topic('T', 8), perm: 4 }] }), true],
  ];
  for (const [what, r, bumps] of steps) {
    const before = table.version;
    table.register(r, 100);
    t.equal(table.version, bumps ? before + 1 : before, `${what}: ${bumps ? 'bumps' : 'does not bump'}`);
  }
  const before = table.version;
  table.unregister({ clusterName: 'DefaultCluster', brokerName: 'broker-a', nodeId: 'nobody' }, 0);
  t.equal(table.version, before, 'unregistering one not held changes nothing');
  const events = table.unregister({ clusterName: 'DefaultCluster', brokerName: 'broker-a', nodeId: 'n1' }, 0);
  t.equal(table.version, before + 1);
  t.match(events, [{ kind: 'dropped', nodeId: 'n1', reason: 'unregistered' }, { kind: 'master', nodeId: '' }]);
  t.equal(table.size, 0);
  t.same(table.brokerDatas(0), [], 'the empty group is gone');
});

t.test('expiry: a registration not renewed for the expiry time is dropped; a renewal restarts its clock', async (t) => {
  const table = new RouteTable({ expiryMs: 1000 });
  table.register(master('n0', 1), 0);
  table.register(slave('n1', 1), 0);
  t.equal(table.brokerDatas(600)[0]!.replicas[0]!.silentMs, 600);
  table.register(slave('n1', 1), 600);
  const version = table.version;
  t.same(table.expire(1000), [], 'not at exactly the expiry time');
  t.equal(table.version, version);
  const events = table.expire(1001);
  t.match(events, [{ kind: 'dropped', nodeId: 'n0', reason: 'expired', silentMs: 1001 }, { kind: 'master', nodeId: '' }]);
  t.equal(table.version, version + 1);
  t.same(table.brokerDatas(1001)[0]!.replicas.map((r) => r.nodeId), ['n1'], 'the renewed one stays');
  t.same(table.expire(1600), [], 'n1 renewed at 600: 1000 ms silent is not yet over');
  t.match(table.expire(1601), [{ kind: 'dropped', nodeId: 'n1', silentMs: 1001 }]);
  t.equal(table.size, 0);
});

t.test('limits: registrations, topics per registration, topic entries over all', async (t) => {
  const table = new RouteTable({ brokersMax: 2, topicsPerRegistrationMax: 3, registeredTopicsMax: 5 });
  table.register(master('n0', 1, { topics: [topic('A'), topic('B')] }), 0);
  table.register(slave('n1', 1, { topics: [topic('A'), topic('B')] }), 0);
  t.throws(() => table.register(slave('n2', 1), 0), { code: 'OVERLOADED', message: /2 registrations, its limit/ });
  t.doesNotThrow(() => table.register(slave('n1', 1, { topics: [topic('A'), topic('B'), topic('C')] }), 0), 'one held may still renew and change');
  t.throws(() => table.register(master('n0', 1, { topics: [topic('A'), topic('B'), topic('C')] }), 0), { code: 'OVERLOADED', message: /limit of 5 topic entries/ });
  t.throws(() => table.register(master('n0', 1, { topics: [topic('A'), topic('B'), topic('C'), topic('D')] }), 0), { code: 'BAD_REQUEST', message: /4 topics; at most 3/ });
  t.equal(table.size, 2);
  t.same(table.topicList(), ['A', 'B', 'C'], 'refusals changed nothing');
});

t.test('bad registrations are refused with BAD_REQUEST naming the field, and change nothing', async (t) => {
  const table = new RouteTable();
  table.register(master('n0', 1), 0);
  const version = table.version;
  const good = slave('n1', 1) as unknown as Record<string, unknown>;
  const cases: [string, unknown, RegExp][] = [
    ['not an object', 'hello', /broker must be an object/],
    ['null', null, /broker must be an object/],
    ['an array', [1], /broker must be an object/],
    ['no clusterName', { ...good, clusterName: undefined }, /clusterName undefined is not a valid name/],
    ['a bad brokerName', { ...good, brokerName: 'a b' }, /brokerName "a b" is not a valid name/],
    ['a long brokerName', { ...good, brokerName: 'x'.repeat(128) }, /brokerName .* is not a valid name/],
    ['a bad nodeId', { ...good, nodeId: 'n-1' }, /nodeId "n-1" is not a valid node id/],
    ['a bad address', { ...good, brokerAddr: 'localhost' }, /brokerAddr "localhost" is not host:port/],
    ['a port out of range', { ...good, brokerAddr: '127.0.0.1:70000' }, /brokerAddr .* is not host:port/],
    ['an unknown role', { ...good, role: 'LEADER' }, /role must be MASTER or SLAVE/],
    ['a MASTER with a slave id', { ...good, role: 'MASTER', brokerId: 2 }, /brokerId 2 does not fit role MASTER/],
    ['a SLAVE as id 0', { ...good, brokerId: 0 }, /brokerId 0 does not fit role SLAVE/],
    ['a negative brokerId', { ...good, brokerId: -1 }, /brokerId must be an integer in 0\.\.1024/],
    ['a fractional term', { ...good, term: 1.5 }, /term must be an integer/],
    ['a string term', { ...good, term: '3' }, /term must be an integer/],
    ['topics not an array', { ...good, topics: {} }, /topics must be an array/],
    ['a topic not an object', { ...good, topics: [7] }, /topics\[0\] is not an object/],
    ['a bad topic name', { ...good, topics: [topic('a b')] }, /topics\[0\]\.topic "a b" is not a valid topic name/],
    ['a negative queue count', { ...good, topics: [{ ...topic('T'), readQueueNums: -1 }] }, /topics\[0\]\.readQueueNums must be an integer/],
    ['too many queues', { ...good, topics: [{ ...topic('T'), writeQueueNums: 5000 }] }, /topics\[0\]\.writeQueueNums must be an integer in 0\.\.1024/],
    ['a bad perm', { ...good, topics: [{ ...topic('T'), perm: 99 }] }, /topics\[0\]\.perm must be an integer in 0\.\.15/],
    ['a topic twice', { ...good, topics: [topic('T'), topic('T', 8)] }, /lists topic "T" twice/],
    ['another cluster for the same group', { ...good, clusterName: 'Other' }, /broker group broker-a is registered in cluster DefaultCluster, not Other/],
  ];
  for (const [what, input, message] of cases) {
    let err: unknown;
    try {
      table.register(input, 0);
    } catch (e) {
      err = e;
    }
    t.ok(isRaftmqError(err, 'BAD_REQUEST'), `${what}: BAD_REQUEST`);
    t.match((err as Error | undefined)?.message, message, `${what}: says why`);
  }
  t.equal(table.version, version);
  t.equal(table.size, 1);
});

/** What a client can read from the table: every group's BrokerData (less silentMs) and every route. */
function visible(table: RouteTable): string {
  const groups = table.brokerDatas(0).map((b) => ({ ...b, replicas: b.replicas.map((r) => ({ ...r, silentMs: 0 })) }));
  return JSON.stringify([groups, table.topicList().map((tp) => table.topicRoute(tp, 0)?.queueDatas)]);
}

t.test('random registrations: whenever what a client sees changes, the version moved; a repeat never moves it', async (t) => {
  const seed = Number(process.env.NAMESRV_SEED ?? Date.now() % 1_000_000);
  t.comment(`seed ${seed} (replay: NAMESRV_SEED=${seed})`);
  const arbReg = fc.record({
    node: fc.integer({ min: 0, max: 3 }),
    group: fc.constantFrom('broker-a', 'broker-b'),
    master: fc.boolean(),
    term: fc.integer({ min: 1, max: 4 }),
    port: fc.integer({ min: 1, max: 2 }),
    topics: fc.subarray(['A', 'B', 'C']),
    queues: fc.integer({ min: 1, max: 2 }),
  });
  const arbStep = fc.oneof(
    { weight: 6, arbitrary: arbReg.map((r) => ({ kind: 'register' as const, r })) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('unregister' as const), node: fc.integer({ min: 0, max: 3 }), group: fc.constantFrom('broker-a', 'broker-b') }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 1500 }) }) },
  );
  fc.assert(
    fc.property(fc.array(arbStep, { maxLength: 60 }), (steps) => {
      const table = new RouteTable({ expiryMs: 1000 });
      let now = 0;
      for (const s of steps) {
        const before = visible(table);
        const version = table.version;
        if (s.kind === 'tick') {
          now += s.ms;
          table.expire(now);
        } else if (s.kind === 'unregister') {
          table.unregister({ clusterName: 'DefaultCluster', brokerName: s.group, nodeId: `n${s.node}` }, now);
        } else {
          const { node, group, term, port, topics, queues } = s.r;
          const r = reg(`n${node}`, { brokerName: group, role: s.r.master ? 'MASTER' : 'SLAVE', brokerId: s.r.master ? 0 : node + 1, term, brokerAddr: `127.0.0.${port}:${100 + node}`, topics: topics.map((x) => topic(x, queues)) });
          table.register(r, now);
          const repeated = table.version;
          table.register(r, now);
          if (table.version !== repeated) return false;
        }
        if (visible(table) !== before && table.version === version) return false;
        // Whatever the order of events, the master is a MASTER claim of the highest term present.
        for (const b of table.brokerDatas(now)) {
          const id0 = b.brokerAddrs[0];
          if (id0 === undefined) continue;
          const top = Math.max(...b.replicas.map((x) => x.term));
          if (!b.replicas.some((x) => x.role === 'MASTER' && x.addr === id0 && x.term === top)) return false;
        }
      }
      return true;
    }),
    { seed, numRuns: 300 },
  );
  t.pass('300 random schedules held');
});
