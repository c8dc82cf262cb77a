// The NameServer over loopback (src/namesrv/server.ts): registrations, routes, cluster info, the
// topic list, the watchRoutes long poll, expiry, bad requests; and `raftmq namesrv` as a process.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { Test } from 'tap';
import { LOADER_FLAGS } from '../../src/cli/index.ts';
import { NamesrvServer, type NamesrvServerOptions } from '../../src/namesrv/index.ts';
import { Connection } from '../../src/net/index.ts';
import { PERM_READ_WRITE, type BrokerRegistration, type NamesrvResponse } from '../../src/protocol/index.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
/** Liveness guard for answers expected within milliseconds. */
const PROMPT_MS = 2000;

interface LogLine {
  level: string;
  msg: string;
}

async function startNamesrv(t: Test, opts: Partial<NamesrvServerOptions> = {}): Promise<{ ns: NamesrvServer; logs: LogLine[]; conn: () => Connection }> {
  const logs: LogLine[] = [];
  const ns = await NamesrvServer.start({ host: '127.0.0.1', port: 0, log: (level, msg) => logs.push({ level, msg }), ...opts });
  const conns: Connection[] = [];
  t.teardown(async () => {
    await Promise.all(conns.map((c) => c.close()));
    await ns.close();
  });
  const conn = () => {
    const c = new Connection({ host: '127.0.0.1', port: ns.port, requestTimeoutMs: 40_000 });
    conns.push(c);
    return c;
  };
  return { ns, logs, conn };
}

function registration(nodeId: string, over: Partial<BrokerRegistration> = {}): BrokerRegistration {
  return {
    clusterName: 'DefaultCluster',
    brokerName: 'broker-a',
    brokerId: 0,
    nodeId,
    brokerAddr: '127.0.0.1:10911',
    role: 'MASTER',
    term: 1,
    topics: [{ topic: 'T', readQueueNums: 4, writeQueueNums: 4, perm: PERM_READ_WRITE }],
    ...over,
  };
}

type Answer<K extends NamesrvResponse['type']> = Extract<NamesrvResponse, { type: K }>;

function ask<K extends NamesrvResponse['type']>(conn: Connection, frame: { type: string; [k: string]: unknown }): Promise<Answer<K>> {
  return conn.request<Answer<K> & { id: number; type: K }>(frame as never);
}

t.test('register, then route, cluster info and topic list answer from it', async (t) => {
  const { ns, conn } = await startNamesrv(t);
  const c = conn();
  const r1 = await ask<'registered'>(c, { type: 'registerBroker', broker: registration('n0') });
  t.equal(r1.instanceId, ns.instanceId);
  t.equal(r1.version, 1);
  const r2 = await ask<'registered'>(c, { type: 'registerBroker', broker: registration('n1', { role: 'SLAVE', brokerId: 2, brokerAddr: '127.0.0.1:10912' }) });
  t.equal(r2.version, 2);
  const renewed = await ask<'registered'>(c, { type: 'registerBroker', broker: registration('n1', { role: 'SLAVE', brokerId: 2, brokerAddr: '127.0.0.1:10912' }) });
  t.equal(renewed.version, 2, 'a renewal does not move the version');

  const route = await ask<'topicRoute'>(c, { type: 'getRouteInfoByTopic', topic: 'T' });
  t.equal(route.topic, 'T');
  t.same(route.route.queueDatas, [{ brokerName: 'broker-a', readQueueNums: 4, writeQueueNums: 4, perm: PERM_READ_WRITE, topicSysFlag: 0 }]);
  t.same(route.route.brokerDatas[0]?.brokerAddrs, { 0: '127.0.0.1:10911', 2: '127.0.0.1:10912' });
  await t.rejects(ask(c, { type: 'getRouteInfoByTopic', topic: 'Nope' }), { code: 'TOPIC_NOT_FOUND', message: /Nope/ });

  const info = await ask<'clusterInfo'>(c, { type: 'getBrokerClusterInfo' });
  t.same(info.info.clusterAddrTable, { DefaultCluster: ['broker-a'] });
  t.same(info.info.brokerAddrTable['broker-a']?.replicas.map((r) => r.nodeId), ['n0', 'n1']);
  t.same((await ask<'topicList'>(c, { type: 'getAllTopicList' })).topics, ['T']);

  t.same(await ask<'ok'>(c, { type: 'unregisterBroker', clusterName: 'DefaultCluster', brokerName: 'broker-a', nodeId: 'n0' }), { type: 'ok', id: 8 });
  t.same((await ask<'topicRoute'>(c, { type: 'getRouteInfoByTopic', topic: 'T' })).route.brokerDatas[0]?.brokerAddrs, { 2: '127.0.0.1:10912' }, 'no master once it unregistered');
});

t.test('watchRoutes: at once for another instance, at once on a change, after waitMs otherwise', async (t) => {
  const { ns, conn } = await startNamesrv(t);
  const watcher = conn();
  const registrar = conn();
  await ask(registrar, { type: 'registerBroker', broker: registration('n0') });

  const first = await ask<'routeChanges'>(watcher, { type: 'watchRoutes', instanceId: '', sinceVersion: -1, waitMs: 30_000 });
  t.equal(first.changes.instanceId, ns.instanceId, 'an unknown instance is answered at once');
  t.equal(first.changes.version, 1);
  t.same(first.changes.brokerDatas.map((b) => b.brokerName), ['broker-a']);
  const stale = await ask<'routeChanges'>(watcher, { type: 'watchRoutes', instanceId: ns.instanceId, sinceVersion: 0, waitMs: 30_000 });
  t.equal(stale.changes.version, 1, 'a version behind is answered at once');

  // Parked until a change: a new master registers.
  const t0 = Date.now();
  const parked = ask<'routeChanges'>(watcher, { type: 'watchRoutes', instanceId: ns.instanceId, sinceVersion: 1, waitMs: 30_000 });
  let settled = false;
  void parked.then(() => (settled = true));
  await ask(registrar, { type: 'registerBroker', broker: registration('n0') });
  await new Promise((r) => setTimeout(r, 100));
  t.notOk(settled, 'a renewal does not answer a parked watch');
  await ask(registrar, { type: 'registerBroker', broker: registration('n1', { term: 2, brokerAddr: '127.0.0.1:10912' }) });
  const changed = await parked;
  t.ok(Date.now() - t0 < PROMPT_MS + 100, 'answered when the change came, not at waitMs');
  t.equal(changed.changes.version, 2);
  t.equal(changed.changes.brokerDatas[0]?.brokerAddrs[0], '127.0.0.1:10912', 'with the new master');

  // No change: answered after waitMs, with the same version.
  const t1 = Date.now();
  const quiet = await ask<'routeChanges'>(watcher, { type: 'watchRoutes', instanceId: ns.instanceId, sinceVersion: 2, waitMs: 300 });
  t.ok(Date.now() - t1 >= 250, `answered after waitMs (${Date.now() - t1} ms)`);
  t.equal(quiet.changes.version, 2);
  const now = await ask<'routeChanges'>(watcher, { type: 'watchRoutes', instanceId: ns.instanceId, sinceVersion: 2, waitMs: 0 });
  t.equal(now.changes.version, 2, 'waitMs 0: at once');
});

t.test('parked watches are bounded, answered on close, and forgotten with their connection', async (t) => {
  const { ns, conn } = await startNamesrv(t, { parkedWatchesMax: 1 });
  const a = conn();
  const b = conn();
  const parked = ask<'routeChanges'>(a, { type: 'watchRoutes', instanceId: ns.instanceId, sinceVersion: 0, waitMs: 30_000 }).then(
    () => 'answered',
    (err: { code?: string }) => err.code,
  );
  await new Promise((r) => setTimeout(r, 50));
  const t0 = Date.now();
  const overflow = await ask<'routeChanges'>(b, { type: 'watchRoutes', instanceId: ns.instanceId, sinceVersion: 0, waitMs: 30_000 });
  t.ok(Date.now() - t0 < PROMPT_MS, 'beyond the bound: answered at once');
  t.equal(overflow.changes.version, 0);
  // A watcher that goes away frees its slot.
  await a.close();
  t.equal(await parked, 'CONNECTION_LOST');
  await new Promise((r) => setTimeout(r, 50));
  const c = conn();
  const again = ask<'routeChanges'>(c, { type: 'watchRoutes', instanceId: ns.instanceId, sinceVersion: 0, waitMs: 30_000 });
  let settled = false;
  void again.then(() => (settled = true));
  await new Promise((r) => setTimeout(r, 100));
  t.notOk(settled, 'the slot of the closed connection was freed: this one is parked');
  const t1 = Date.now();
  await ns.close();
  t.equal((await again).changes.version, 0, 'close() answers it');
  t.ok(Date.now() - t1 < PROMPT_MS);
});

t.test('bad requests are answered BAD_REQUEST; a malformed frame closes only its connection', async (t) => {
  const { ns, conn } = await startNamesrv(t);
  const c = conn();
  const cases: [string, { type: string; [k: string]: unknown }, RegExp][] = [
    ['an unknown type', { type: 'getEverything' }, /unknown request type "getEverything"/],
    ['a registration without broker', { type: 'registerBroker' }, /broker must be an object/],
    ['a registration with a bad role', { type: 'registerBroker', broker: { ...registration('n0'), role: 'BOSS' } }, /role must be MASTER or SLAVE/],
    ['a route without topic', { type: 'getRouteInfoByTopic' }, /topic undefined is not a valid topic name/],
    ['an unregister with a bad node id', { type: 'unregisterBroker', clusterName: 'c', brokerName: 'b', nodeId: '' }, /nodeId "" is not a valid node id/],
    ['a watch too long', { type: 'watchRoutes', instanceId: '', sinceVersion: 0, waitMs: 40_000 }, /waitMs must be an integer in 0\.\.30000/],
    ['a watch without instanceId', { type: 'watchRoutes', sinceVersion: 0, waitMs: 0 }, /instanceId must be a string/],
    ['a watch with a fractional version', { type: 'watchRoutes', instanceId: '', sinceVersion: 0.5, waitMs: 0 }, /sinceVersion must be an integer/],
  ];
  for (const [what, frame, message] of cases) await t.rejects(ask(c, frame), { code: 'BAD_REQUEST', message }, what);
  t.equal(ns.table.version, 0, 'nothing was registered');

  const closed = await new Promise<boolean>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port: ns.port }, () => {
      socket.write(Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from([0xc1, 0xc1, 0xc1])]));
    });
    socket.on('error', () => {});
    socket.on('data', () => {});
    socket.on('close', () => resolve(true));
  });
  t.ok(closed, 'garbage closes that connection');
  t.same((await ask<'topicList'>(c, { type: 'getAllTopicList' })).topics, [], 'the others are still served');
});

t.test('expiry: a silent replica is dropped by the scan, logged once; renewals log nothing', async (t) => {
  const { ns, conn, logs } = await startNamesrv(t, { expiryMs: 300, expiryScanMs: 50 });
  const c = conn();
  await ask(c, { type: 'registerBroker', broker: registration('n0') });
  await ask(c, { type: 'registerBroker', broker: registration('n1', { role: 'SLAVE', brokerId: 2, brokerAddr: '127.0.0.1:10912' }) });
  // n0 is renewed, n1 falls silent.
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && ns.table.size > 1) {
    await ask(c, { type: 'registerBroker', broker: registration('n0') });
    await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(ns.table.size, 1, 'n1 expired');
  t.same(ns.table.brokerDatas(0)[0]?.replicas.map((r) => r.nodeId), ['n0'], 'n0, renewed, stayed');
  t.same(
    logs.map((l) => l.msg),
    ['replica registered: broker-a/n0 (MASTER)', 'new master of broker-a: n0 at 127.0.0.1:10911 (term 1)', 'replica registered: broker-a/n1 (SLAVE)', 'replica dropped (expired): broker-a/n1'],
    'one line per change, none per renewal',
  );
});

t.test('raftmq namesrv: says where it listens, serves, and stops on SIGTERM', async (t) => {
  const child = spawn(process.execPath, [...LOADER_FLAGS, MAIN, 'namesrv', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000); // by PID; only if it hangs
  t.teardown(() => {
    clearTimeout(killer);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const addr = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /namesrv listening on (127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    void exited.then((code) => reject(new Error(`exited ${code} before listening: ${out}`)));
  });
  const c = new Connection({ host: '127.0.0.1', port: Number(addr.split(':')[1]), requestTimeoutMs: 5000 });
  const r = await ask<'registered'>(c, { type: 'registerBroker', broker: registration('n0') });
  t.equal(r.version, 1);
  t.same((await ask<'topicList'>(c, { type: 'getAllTopicList' })).topics, ['T']);
  await c.close();
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'exit 0 after SIGTERM');
});
