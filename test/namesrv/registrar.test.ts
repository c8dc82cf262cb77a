// The broker's registrar (src/broker/namesrv-registrar.ts) against in-process NameServers, with
// the replica's role and topics as plain variables: a role change registers at once, a topic
// change soon, a dead NameServer delays no other and is logged once when it fails and once when
// it recovers, a stop unregisters.
import net from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { NamesrvRegistrar, type Logger, type BrokerRole } from '../../src/broker/index.ts';
import { NamesrvServer } from '../../src/namesrv/index.ts';
import { freeLocalPorts } from '../../src/net/index.ts';
import { PERM_READ_WRITE, type TopicConfigInfo } from '../../src/protocol/index.ts';

/** Liveness guard for what should take milliseconds. */
const PROMPT_MS = 3000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Replica {
  role: BrokerRole;
  brokerId: number;
  term: number;
  applied: number;
  topics: TopicConfigInfo[];
}

function recordingLogger(): Logger & { lines: { level: string; msg: string }[] } {
  const lines: { level: string; msg: string }[] = [];
  const at = (level: string) => (_fields: object, msg: string) => void lines.push({ level, msg });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), flush: () => {}, close: async () => {} };
}

async function namesrv(t: Test, port = 0): Promise<NamesrvServer> {
  const ns = await NamesrvServer.start({ host: '127.0.0.1', port });
  t.teardown(() => ns.close());
  return ns;
}

function registrar(t: Test, addrs: string[], replica: Replica, periodMs = 60_000) {
  const logger = recordingLogger();
  const r = new NamesrvRegistrar({
    namesrvAddrs: addrs,
    periodMs,
    clusterName: 'DefaultCluster',
    brokerName: 'broker-a',
    nodeId: 'n1',
    brokerAddr: '127.0.0.1:10912',
    sources: { role: () => ({ role: replica.role, brokerId: replica.brokerId, term: replica.term }), appliedIndex: () => replica.applied, topics: () => replica.topics.map((x) => ({ ...x })) },
    logger,
  });
  t.teardown(() => r.stop());
  return { r, logger };
}

async function until(what: string, cond: () => boolean, timeoutMs = PROMPT_MS): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(2);
  }
  return Date.now() - t0;
}

const topic = (name: string, queues: number): TopicConfigInfo => ({ topic: name, readQueueNums: queues, writeQueueNums: queues, perm: PERM_READ_WRITE });
const replicaOf = (ns: NamesrvServer) => ns.table.brokerDatas(0)[0]?.replicas.find((x) => x.nodeId === 'n1');

t.test('registers at start, at once on a role change, soon after a topic change, and renews every period', async (t) => {
  const ns = await namesrv(t);
  const replica: Replica = { role: 'SLAVE', brokerId: 2, term: 3, applied: 10, topics: [topic('T', 4)] };
  // A period well above the 150 ms look below: a renewal (which reads the topics) inside it would
  // make "no look" untrue on a busy machine.
  const { r } = registrar(t, [ns.addr], replica, 1000);
  r.start();
  await until('first registration', () => replicaOf(ns) !== undefined);
  t.match(replicaOf(ns), { role: 'SLAVE', brokerId: 2, term: 3, addr: '127.0.0.1:10912' });
  t.same(ns.table.topicRoute('T', 0)?.queueDatas.map((q) => q.writeQueueNums), [4]);

  replica.role = 'MASTER';
  replica.brokerId = 0;
  replica.term = 4;
  const roleMs = await until('the role change', () => ns.table.brokerDatas(0)[0]?.brokerAddrs[0] === '127.0.0.1:10912');
  t.ok(roleMs < PROMPT_MS, `registered as master ${roleMs} ms after the change`);
  t.match(replicaOf(ns), { role: 'MASTER', brokerId: 0, term: 4 });

  // The topic table changes only with the applied index: without it nothing is looked at.
  replica.topics = [topic('T', 8), topic('U', 2)];
  await sleep(150);
  t.equal(ns.table.topicRoute('U', 0), null, 'no look while the applied index stands still');
  replica.applied = 11;
  await until('the topic change', () => ns.table.topicRoute('U', 0) !== null);
  t.same(ns.table.topicRoute('T', 0)?.queueDatas.map((q) => q.writeQueueNums), [8]);
  replica.topics = [topic('T', 8)];
  replica.applied = 12;
  await until('the deletion', () => ns.table.topicRoute('U', 0) === null);

  // Renewals: silence stays under the period, and the version does not move.
  const version = ns.table.version;
  await sleep(2200);
  t.ok(replicaOf(ns)!.silentMs < 2200, `renewed (silent ${Math.round(replicaOf(ns)!.silentMs)} ms)`);
  t.equal(ns.table.version, version, 'renewals change nothing a client sees');
});

t.test('with a role-change event, a role change registers at once, not at the next sample', async (t) => {
  const ns = await namesrv(t);
  const replica: Replica = { role: 'SLAVE', brokerId: 2, term: 3, applied: 10, topics: [topic('T', 4)] };
  const listeners: Array<() => void> = [];
  const r = new NamesrvRegistrar({
    namesrvAddrs: [ns.addr],
    periodMs: 60_000,
    clusterName: 'DefaultCluster',
    brokerName: 'broker-a',
    nodeId: 'n1',
    brokerAddr: '127.0.0.1:10912',
    sources: {
      role: () => ({ role: replica.role, brokerId: replica.brokerId, term: replica.term }),
      onRoleChange: (l) => void listeners.push(l),
      appliedIndex: () => replica.applied,
      topics: () => replica.topics.map((x) => ({ ...x })),
    },
    logger: recordingLogger(),
  });
  t.teardown(() => r.stop());
  r.start();
  t.equal(listeners.length, 1, 'the registrar listens to role changes');
  Object.assign(replica, { role: 'MASTER', brokerId: 0, term: 4 });
  listeners[0]!();
  t.match(r.registration, { role: 'MASTER', brokerId: 0, term: 4 }, 'the registration is rebuilt in the event, before any timer');
  await until('the NameServer holds the new master', () => replicaOf(ns)?.role === 'MASTER');
});

t.test('a NameServer that is down delays no other, is logged once, and is refilled when it comes back', async (t) => {
  const up = await namesrv(t);
  // A NameServer that accepts connections and never answers: the worst case for the others.
  const silentSockets = new Set<net.Socket>();
  const silent = net.createServer((s) => silentSockets.add(s.on('error', () => {})));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of silentSockets) s.destroy();
    silent.close();
  });
  const [downPort] = await freeLocalPorts(1);
  const silentAddr = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
  const replica: Replica = { role: 'SLAVE', brokerId: 2, term: 1, applied: 1, topics: [] };
  const { r, logger } = registrar(t, [silentAddr, `127.0.0.1:${downPort}`, up.addr], replica);
  r.start();
  await until('the live NameServer', () => replicaOf(up) !== undefined);
  replica.role = 'MASTER';
  replica.brokerId = 0;
  replica.term = 2;
  const ms = await until('the role change on the live NameServer', () => replicaOf(up)?.role === 'MASTER');
  t.ok(ms < 1000, `the live NameServer has the new role ${ms} ms after it (a silent one times out after 3000)`);

  // The refused one is retried with backoff: one warning, however many tries.
  await sleep(1500);
  const failedLines = () => logger.lines.filter((l) => l.msg.startsWith('registration with the NameServer failed'));
  t.equal(failedLines().length, 1, 'the refused NameServer is logged once (the silent one has not timed out yet)');
  const restarted = await namesrv(t, downPort);
  await until('the restarted NameServer is refilled', () => replicaOf(restarted)?.role === 'MASTER', 10_000);
  const recoveredLines = () => logger.lines.filter((l) => l.msg === 'registration with the NameServer works again');
  await until('its recovery is logged', () => recoveredLines().length > 0);
  await until('the silent NameServer times out', () => failedLines().length === 2, 10_000);
  await sleep(3500);
  t.equal(failedLines().length, 2, 'retrying the silent one logs nothing more (it timed out again meanwhile)');
  t.equal(recoveredLines().length, 1, 'the recovery is logged once');
});

t.test('stop unregisters from every NameServer that answers, within a bounded wait', async (t) => {
  const a = await namesrv(t);
  const b = await namesrv(t);
  const [downPort] = await freeLocalPorts(1);
  const replica: Replica = { role: 'MASTER', brokerId: 0, term: 1, applied: 1, topics: [topic('T', 4)] };
  const { r } = registrar(t, [a.addr, b.addr, `127.0.0.1:${downPort}`], replica);
  r.start();
  await until('both registered', () => a.table.size === 1 && b.table.size === 1);
  const t0 = Date.now();
  await r.stop();
  t.ok(Date.now() - t0 < 2000, `stopped in ${Date.now() - t0} ms`);
  t.equal(a.table.size, 0, 'unregistered from a');
  t.equal(b.table.size, 0, 'unregistered from b');
  replica.term = 2;
  await sleep(100);
  t.equal(a.table.size, 0, 'nothing registers after the stop');
});
