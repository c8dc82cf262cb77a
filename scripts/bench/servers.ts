// The servers one bench run measures: one broker group with its clients on the replicas'
// addresses (as bench always did), or --groups G groups behind one NameServer with clients routed
// through it. Either way: the bench topic on every group, every replica's pid and store, and a
// synchronous kill for an interrupted bench.
import fs from 'node:fs';
import { Admin, ClusterAdmin } from '../../src/client/index.ts';
import { delay } from '../../src/net/index.ts';
import { LocalCluster, LocalClusterSet } from '../../src/cli/index.ts';

export interface BenchServersOptions {
  readonly groups: number;
  readonly nodes: number;
  readonly metrics: boolean;
  /** broker.conf keys of every replica. */
  readonly extra: Readonly<Record<string, string>>;
}

export interface BenchReplica {
  /** n0.. with one group; broker-a/n0.. with several. */
  readonly id: string;
  readonly pid: number;
  /** Its store (storePathRootDir). */
  readonly dir: string;
  /** Master when the run started. */
  readonly master: boolean;
}

/** How the load processes reach the brokers: the one group's replicas, or the NameServer. */
export type ClientTarget = { readonly servers: readonly string[] } | { readonly namesrv: readonly string[] };

/** How long the groups get to elect masters, and the NameServer to route the topic to all. */
const START_TIMEOUT_MS = 20_000;

export class BenchServers {
  private constructor(
    readonly groups: readonly LocalCluster[],
    readonly set: LocalClusterSet | null,
    readonly replicas: readonly BenchReplica[],
    readonly target: ClientTarget,
  ) {}

  /** Starts the group(s); `onStarted` gets the servers at once, so that an interrupt while the
   *  masters are elected and the topic created can still kill them. */
  static async start(opts: BenchServersOptions, topic: string, queues: number, onStarted: (s: BenchServers) => void): Promise<BenchServers> {
    if (opts.groups === 1) {
      const cluster = await LocalCluster.create({ nodes: opts.nodes, metrics: opts.metrics, extra: { ...opts.extra } });
      onStarted(new BenchServers([cluster], null, [], { servers: cluster.servers }));
      const master = await cluster.waitForMaster(START_TIMEOUT_MS);
      const admin = new Admin({ servers: cluster.servers });
      try {
        await admin.createTopic(topic, queues);
      } finally {
        await admin.close();
      }
      return new BenchServers([cluster], null, replicasOf(cluster, master.nodeId, ''), { servers: cluster.servers });
    }
    // LocalClusterSet gives every replica the same broker.conf keys: no metrics port of its own.
    if (opts.metrics) throw new Error('metrics with several groups are not supported (each replica needs a port of its own)');
    const set = await LocalClusterSet.create({ groups: opts.groups, nodes: opts.nodes, extra: { ...opts.extra } });
    const namesrv = set.namesrvs.map((n) => n.addr);
    onStarted(new BenchServers(set.groups, set, [], { namesrv }));
    const masters = await set.waitForMasters(START_TIMEOUT_MS);
    await createTopicEverywhere(set, topic, queues);
    const replicas = set.groups.flatMap((g, i) => replicasOf(g, masters[i]!.nodeId, `${g.brokerName}/`));
    return new BenchServers(set.groups, set, replicas, { namesrv });
  }

  /** Where the data is (all groups share the temp directory's file system). */
  get root(): string {
    return this.groups[0]!.root;
  }

  /** Each group's data directory. */
  get roots(): string[] {
    return this.groups.map((g) => g.root);
  }

  /** The NameServers' pids (none with one group). */
  get namesrvPids(): number[] {
    return (this.set?.namesrvs ?? []).flatMap((n) => (n.proc?.pid !== undefined ? [n.proc.pid] : []));
  }

  /** A replica that is no longer running, if any. */
  deadReplica(): BenchReplica | undefined {
    return this.replicas.find((r) => !this.groupOf(r).running(r.id.slice(r.id.lastIndexOf('/') + 1)));
  }

  /** One line for the log: groups, masters, NameServer, pids. */
  describe(): string {
    const masters = this.replicas.filter((r) => r.master).map((r) => r.id);
    const ns = 'namesrv' in this.target ? `, NameServer ${this.target.namesrv.join(';')}` : '';
    const groups = this.groups.length === 1 ? '' : `${this.groups.length} groups x `;
    return `${groups}${this.replicas.length / this.groups.length} nodes up (master${masters.length > 1 ? 's' : ''} ${masters.join(', ')}${ns}), pids ${this.replicas.map((r) => r.pid).join(' ')}`;
  }

  /** Raft entries committed so far, summed over the groups (each group's highest commitIndex):
   *  with the messages acked in a window, how many messages an entry carried. */
  async committedEntries(): Promise<number> {
    const perGroup = await Promise.all(this.groups.map(async (g) => Math.max(0, ...(await g.statuses()).map((s) => s?.commitIndex ?? 0))));
    return perGroup.reduce((a, b) => a + b, 0);
  }

  /** SIGTERM every replica and wait for its exit (--cpu-prof writes its profiles then). */
  async stopGracefully(): Promise<void> {
    await Promise.all(this.groups.flatMap((g) => g.nodes.map((n) => g.stop(n.id))));
  }

  /** Kills every process (SIGKILL) and removes the data. */
  async destroy(): Promise<void> {
    if (this.set !== null) await this.set.destroy();
    else await Promise.all(this.groups.map((g) => g.destroy()));
  }

  /** SIGKILLs every replica and NameServer by PID without waiting, and removes the data. */
  killNow(): void {
    const pids = [...this.groups.flatMap((g) => g.nodes.filter((n) => g.running(n.id)).map((n) => n.proc!.pid!)), ...this.namesrvPids];
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const g of this.groups) fs.rmSync(g.root, { recursive: true, force: true });
  }

  private groupOf(r: BenchReplica): LocalCluster {
    if (this.groups.length === 1) return this.groups[0]!;
    return this.groups.find((g) => r.id.startsWith(`${g.brokerName}/`))!;
  }
}

function replicasOf(g: LocalCluster, masterId: string, prefix: string): BenchReplica[] {
  return g.nodes.map((n) => ({ id: `${prefix}${n.id}`, pid: n.proc!.pid!, dir: n.dir, master: n.id === masterId }));
}

/** The topic on each group's master, then a wait until the NameServer routes it to every group
 *  (a replica registers soon after a topic change): producers started earlier would see fewer. */
async function createTopicEverywhere(set: LocalClusterSet, topic: string, queues: number): Promise<void> {
  await Promise.all(
    set.groups.map(async (g) => {
      const admin = new Admin({ servers: g.servers });
      try {
        await admin.createTopic(topic, queues);
      } finally {
        await admin.close();
      }
    }),
  );
  const admin = new ClusterAdmin({ namesrv: set.namesrvs.map((n) => n.addr) });
  try {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const routed = await admin.topicRoute(topic).then((r) => new Set(r.queueDatas.map((q) => q.brokerName)).size, () => 0);
      if (routed === set.groups.length) return;
      if (Date.now() > deadline) throw new Error(`the NameServer routes ${topic} to ${routed} of ${set.groups.length} groups after ${START_TIMEOUT_MS} ms`);
      await delay(100);
    }
  } finally {
    await admin.close();
  }
}
