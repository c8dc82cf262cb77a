// Several local broker groups behind local NameServers, for multi-group tests: real `raftmq
// namesrv` and `raftmq node` processes on 127.0.0.1 (free ports, temporary directories), stopped
// by PID. Each group is a LocalCluster whose replicas have brokerName and namesrvAddr set.
import type { ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { freeLocalPorts } from '../net/index.ts';
import type { NodeStatus } from '../protocol/index.ts';
import { brokerNameOf, CLUSTER_NAME_DEFAULT, spawnNamesrv } from './cluster.ts';
import { LocalCluster } from './local-cluster.ts';

/** How long a NameServer gets to say it listens. */
const NAMESRV_START_TIMEOUT_MS = 20_000;

export interface LaunchedNamesrv {
  readonly addr: string;
  proc: ChildProcess | null;
}

export interface LocalClusterSetOptions {
  /** Broker groups (brokerName broker-a, broker-b, ...). */
  readonly groups: number;
  /** Replicas per group. */
  readonly nodes: number;
  /** NameServers (default 1); every replica registers with all of them. */
  readonly namesrvs?: number;
  /** broker.conf keys every replica of every group gets (brokerName and namesrvAddr are set here). */
  readonly extra?: Record<string, string>;
  readonly stderr?: boolean;
}

export class LocalClusterSet {
  readonly namesrvs: LaunchedNamesrv[];
  readonly groups: LocalCluster[];
  private readonly stderr: boolean;

  private constructor(namesrvs: LaunchedNamesrv[], groups: LocalCluster[], stderr: boolean) {
    this.namesrvs = namesrvs;
    this.groups = groups;
    this.stderr = stderr;
  }

  /** Starts the NameServers (and waits until they listen), then every group. */
  static async create(opts: LocalClusterSetOptions): Promise<LocalClusterSet> {
    const ports = await freeLocalPorts(opts.namesrvs ?? 1);
    const namesrvs: LaunchedNamesrv[] = ports.map((p) => ({ addr: `127.0.0.1:${p}`, proc: null }));
    const set = new LocalClusterSet(namesrvs, [], opts.stderr ?? false);
    try {
      await Promise.all(namesrvs.map((_, i) => set.startNamesrv(i)));
      for (let g = 0; g < opts.groups; g++) {
        const extra = { ...opts.extra, brokerName: brokerNameOf(g), brokerClusterName: CLUSTER_NAME_DEFAULT, namesrvAddr: set.namesrvAddr };
        set.groups.push(await LocalCluster.create({ nodes: opts.nodes, extra, ...(opts.stderr !== undefined ? { stderr: opts.stderr } : {}) }));
      }
    } catch (err) {
      await set.destroy();
      throw err;
    }
    return set;
  }

  /** `host:port;host:port` as broker.conf's namesrvAddr and NAMESRV_ADDR take it. */
  get namesrvAddr(): string {
    return this.namesrvs.map((n) => n.addr).join(';');
  }

  group(brokerName: string): LocalCluster {
    const g = this.groups.find((x) => x.brokerName === brokerName);
    if (g === undefined) throw new Error(`no group ${brokerName}`);
    return g;
  }

  /** Starts NameServer i (again) on its port and waits until it says it listens. */
  async startNamesrv(i: number): Promise<void> {
    const n = this.namesrvs[i];
    if (n === undefined) throw new Error(`no NameServer ${i}`);
    if (n.proc !== null && n.proc.exitCode === null && n.proc.signalCode === null) throw new Error(`NameServer ${i} is running`);
    const port = Number(n.addr.slice(n.addr.lastIndexOf(':') + 1));
    const proc = spawnNamesrv(port, '127.0.0.1', 'pipe');
    n.proc = proc;
    if (this.stderr) proc.stderr!.pipe(process.stderr);
    else proc.stderr!.resume();
    await new Promise<void>((resolve, reject) => {
      const lines = readline.createInterface({ input: proc.stdout! });
      const timer = setTimeout(() => reject(new Error(`NameServer ${n.addr} did not start within ${NAMESRV_START_TIMEOUT_MS} ms`)), NAMESRV_START_TIMEOUT_MS);
      lines.on('line', (line) => {
        if (!line.startsWith('namesrv listening on ')) return;
        clearTimeout(timer);
        resolve();
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`NameServer ${n.addr} exited (${signal ?? `code ${code}`}) before it listened`));
      });
    });
  }

  /** SIGKILL NameServer i and wait for its exit. */
  async killNamesrv(i: number): Promise<void> {
    const p = this.namesrvs[i]?.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null || p.pid === undefined) return;
    const exited = new Promise((r) => p.once('exit', r));
    process.kill(p.pid, 'SIGKILL');
    await exited;
  }

  /** Each group's master, once every group has one. */
  async waitForMasters(timeoutMs = 30_000): Promise<NodeStatus[]> {
    return Promise.all(this.groups.map((g) => g.waitForMaster(timeoutMs)));
  }

  /** Kills every process (SIGKILL) and removes the data. */
  async destroy(): Promise<void> {
    await Promise.all(this.groups.map((g) => g.destroy()));
    await Promise.all(this.namesrvs.map((_, i) => this.killNamesrv(i)));
  }
}
