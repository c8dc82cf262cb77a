// LocalClusterSet, the launcher of multi-group tests: NameServers and groups as real processes;
// every group registers with every NameServer, a NameServer killed and started again is refilled
// by the next registrations, and destroy() leaves no process behind.
import t from 'tap';
import { LocalClusterSet } from '../../src/cli/index.ts';
import { ClusterAdmin } from '../../src/client/index.ts';

/** Liveness guard, many times a registration period of the test (1 s). */
const REFILL_TIMEOUT_MS = 15_000;

/** The groups `namesrv` alone lists, once it lists `want` of them. */
async function groupsOf(namesrv: string, want: number): Promise<string[]> {
  const admin = new ClusterAdmin({ namesrv: [namesrv], requestTimeoutMs: 500 });
  try {
    const deadline = Date.now() + REFILL_TIMEOUT_MS;
    for (;;) {
      const names = await admin.groups().then((gs) => gs.map((g) => g.brokerName), () => []);
      if (names.length >= want || Date.now() > deadline) return names;
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await admin.close();
  }
}

t.test('two groups behind two NameServers; a NameServer restarted empty is refilled', async (t) => {
  const set = await LocalClusterSet.create({ groups: 2, nodes: 1, namesrvs: 2, extra: { registerNameServerPeriod: '1000' } });
  const pids = (): number[] => [...set.namesrvs.map((n) => n.proc?.pid), ...set.groups.flatMap((g) => g.nodes.map((n) => n.proc?.pid))].filter((p): p is number => p !== undefined);
  t.teardown(() => set.destroy());
  t.strictSame(set.groups.map((g) => g.brokerName), ['broker-a', 'broker-b']);
  t.equal(set.namesrvAddr, set.namesrvs.map((n) => n.addr).join(';'));
  t.equal(set.group('broker-b'), set.groups[1]);
  const masters = await set.waitForMasters();
  t.strictSame(masters.map((m) => m.brokerName), ['broker-a', 'broker-b'], 'each group elected its master');
  for (const n of set.namesrvs) t.strictSame(await groupsOf(n.addr, 2), ['broker-a', 'broker-b'], `${n.addr} lists both groups`);

  await set.killNamesrv(0);
  await set.startNamesrv(0);
  t.strictSame(await groupsOf(set.namesrvs[0]!.addr, 2), ['broker-a', 'broker-b'], 'the restarted NameServer lists both again');

  const all = pids();
  await set.destroy();
  const alive = all.filter((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  });
  t.strictSame(alive, [], 'destroy() leaves no process');
});
