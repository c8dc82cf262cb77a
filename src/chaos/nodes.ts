// The replicas of a chaos run as real `raftmq node` processes: configs, start, SIGKILL, SIGSTOP /
// SIGCONT, graceful stop, all by PID. A run has one broker group (replicas n0, n1, ...) or
// several (broker-a with a0, a1, ..., broker-b with b0, b1, ...), each its own Raft group; with
// NameServers every replica's broker.conf names them in namesrvAddr. With a NetLab each replica runs in its own namespace
// (`ip netns exec` execs the node, so the spawned PID is the node's own) and listens on its
// namespace address; without one, everything is on 127.0.0.1 with free ports.
//
// With delay relays (random-delay without netem) every replica's config names, for each other
// replica, the relay in front of that replica's Raft port instead of the port itself.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { makeConfig, renderConfig } from '../broker/index.ts';
import { onExitCleanup } from './cleanup.ts';
import { REPO_DIR, SRC_DIR } from './code-snapshot.ts';
import type { NetLab } from './net.ts';
import { freeLocalPorts, parseAddr } from '../net/index.ts';
import { REPLICA_V8_FLAGS, replicaEnv } from '../cli/index.ts';

const CLIENT_PORT = 10911;
const PEER_PORT = 20911; // below the ephemeral port range (see cluster.ts)
const RELAY_PORT = 41911;
const STOP_GRACE_MS = 10_000;
const RELAY_START_TIMEOUT_MS = 15_000;
/** The replicas' commit log segment size; reading their logs back (dump.ts) needs the same. */
export const SEGMENT_BYTES = 64 * 1024 * 1024;
/** Broker groups of one run (each group's replicas get a namespace: 2 cores run them all). */
export const GROUPS_MAX = 8;
const GROUP_LETTERS = 'abcdefgh';

/** The brokerName of group g (0-based): broker-a, broker-b, ... */
export function groupName(g: number): string {
  return `broker-${GROUP_LETTERS[g]!}`;
}

/** Replica ids: n0.. with one group (as runs always were), else the group's letter: a0.., b0.. */
export function replicaIds(groups: number, nodes: number): string[][] {
  return Array.from({ length: groups }, (_, g) => Array.from({ length: nodes }, (_, i) => `${groups === 1 ? 'n' : GROUP_LETTERS[g]!}${i}`));
}

export interface NodeSpec {
  readonly id: string;
  /** Its broker group (brokerName). */
  readonly group: string;
  /** Position among all replicas of the run (its namespace with a NetLab). */
  readonly index: number;
  readonly ip: string;
  readonly clientAddr: string;
  readonly peerAddr: string;
  /** Where the other replicas dial its Raft listener (its delay relay when relays are on). */
  readonly peerDialAddr: string;
  readonly dir: string;
  readonly confPath: string;
}

interface Relay {
  readonly proc: ChildProcess;
  readonly lines: readline.Interface;
}

export interface NodesOptions {
  /** Replicas per group. */
  readonly nodes: number;
  /** Broker groups (default 1). */
  readonly groups?: number;
  /** NameServers every replica registers with (host:port); none: no registration. */
  readonly namesrvAddr?: readonly string[];
  /** registerNameServerPeriod (ms) with NameServers. */
  readonly registerNameServerPeriodMs?: number;
  readonly dir: string;
  readonly lab: NetLab | null;
  /** Put a delay relay in front of every Raft port. */
  readonly relays: boolean;
  /** Extra broker.conf keys. */
  readonly extraConfig?: Readonly<Record<string, string>>;
  /** The src/ directory replicas and relays run from (default: this checkout's). */
  readonly srcDir?: string;
  /** Where node stderr goes (default: ignored; the nodes also log to <dir>/<id>/logs). */
  readonly stderr?: 'ignore' | 'inherit';
}

export class ChaosNodes {
  readonly specs: readonly NodeSpec[];
  private readonly procs = new Map<string, ChildProcess>();
  private readonly suspended = new Set<string>();
  private readonly relays = new Map<string, Relay>();
  private readonly unregister: () => void;

  private constructor(
    private readonly opts: NodesOptions,
    specs: NodeSpec[],
  ) {
    this.specs = specs;
    // Sync: SIGKILL every node and relay we started (SIGKILL also ends a stopped process).
    this.unregister = onExitCleanup(() => this.killAllSync());
  }

  static async create(opts: NodesOptions): Promise<ChaosNodes> {
    const groups = opts.groups ?? 1;
    if (!Number.isInteger(groups) || groups < 1 || groups > GROUPS_MAX) throw new Error(`groups must be 1..${GROUPS_MAX}, got ${groups}`);
    const byGroup = replicaIds(groups, opts.nodes);
    const total = groups * opts.nodes;
    let addrs: { ip: string; client: number; peer: number; relay: number }[];
    if (opts.lab) {
      if (opts.lab.hosts.length !== total) throw new Error(`the network has ${opts.lab.hosts.length} hosts for ${total} replicas`);
      addrs = opts.lab.hosts.map((h) => ({ ip: h.ip, client: CLIENT_PORT, peer: PEER_PORT, relay: RELAY_PORT }));
    } else {
      const ports = await freeLocalPorts(total * 3);
      addrs = Array.from({ length: total }, (_, i) => ({ ip: '127.0.0.1', client: ports[i]!, peer: ports[total + i]!, relay: ports[2 * total + i]! }));
    }
    const namesrv = opts.namesrvAddr !== undefined && opts.namesrvAddr.length > 0
      ? { namesrvAddr: opts.namesrvAddr.join(';'), ...(opts.registerNameServerPeriodMs !== undefined ? { registerNameServerPeriod: String(opts.registerNameServerPeriodMs) } : {}) }
      : {};
    const specs: NodeSpec[] = [];
    byGroup.forEach((ids, g) => {
      const base = g * opts.nodes;
      const at = (i: number) => addrs[base + i]!;
      const clientPeers = ids.map((id, i) => `${id}-${at(i).ip}:${at(i).client}`).join(';');
      ids.forEach((id, i) => {
        const dir = path.resolve(opts.dir, id);
        fs.mkdirSync(dir, { recursive: true });
        // Others reach this replica through its relay (when relays are on); it binds its real port.
        const dLegerPeers = ids.map((other, j) => `${other}-${at(j).ip}:${opts.relays && j !== i ? at(j).relay : at(j).peer}`).join(';');
        const config = makeConfig({
          brokerName: groupName(g),
          dLegerPeers,
          clientPeers,
          dLegerSelfId: id,
          listenPort: String(at(i).client),
          brokerIP1: at(i).ip,
          storePathRootDir: dir,
          mappedFileSizeCommitLog: String(SEGMENT_BYTES),
          ...namesrv,
          ...opts.extraConfig,
        });
        const confPath = path.join(dir, 'broker.conf');
        fs.writeFileSync(confPath, renderConfig(config));
        const a = at(i);
        specs.push({ id, group: groupName(g), index: base + i, ip: a.ip, clientAddr: `${a.ip}:${a.client}`, peerAddr: `${a.ip}:${a.peer}`, peerDialAddr: `${a.ip}:${opts.relays ? a.relay : a.peer}`, dir, confPath });
      });
    });
    const nodes = new ChaosNodes(opts, specs);
    if (opts.relays) {
      try {
        await Promise.all(specs.map((s) => nodes.startRelay(s, addrs[s.index]!.relay)));
      } catch (err) {
        nodes.killAllSync();
        throw err;
      }
    }
    return nodes;
  }

  get ids(): string[] {
    return this.specs.map((s) => s.id);
  }

  /** The broker groups (brokerNames), in order. */
  get groups(): string[] {
    return [...new Set(this.specs.map((s) => s.group))];
  }

  /** The replicas of one group. */
  idsOf(group: string): string[] {
    return this.specs.filter((s) => s.group === group).map((s) => s.id);
  }

  spec(id: string): NodeSpec {
    const s = this.specs.find((x) => x.id === id);
    if (!s) throw new Error(`no node ${id}`);
    return s;
  }

  private codePath(rel: string): string {
    return path.join(this.opts.srcDir ?? SRC_DIR, rel);
  }

  private prefix(index: number): string[] {
    return this.opts.lab ? this.opts.lab.execPrefix(index) : [];
  }

  private spawnIn(index: number, args: string[], stdio: ('ignore' | 'inherit' | 'pipe')[], nodeFlags: readonly string[] = []): ChildProcess {
    const [cmd, ...rest] = [...this.prefix(index), process.execPath, ...nodeFlags, '--import', 'tsx', ...args];
    // cwd: where `--import tsx` resolves, whatever directory the runner was started from.
    return spawn(cmd!, rest, { cwd: REPO_DIR, stdio, detached: true, env: replicaEnv() });
  }

  running(id: string): boolean {
    const p = this.procs.get(id);
    return !!p && p.exitCode === null && p.signalCode === null;
  }

  isSuspended(id: string): boolean {
    return this.suspended.has(id);
  }

  pid(id: string): number | undefined {
    return this.running(id) ? this.procs.get(id)?.pid : undefined;
  }

  /** Starts the replica with its broker.conf, or with `edit` applied to it (an operator's mistake:
   *  a copy beside it, the original stays). */
  start(id: string, edit?: (conf: string) => string): void {
    if (this.running(id)) return;
    const s = this.spec(id);
    let confPath = s.confPath;
    if (edit !== undefined) {
      confPath = path.join(s.dir, 'broker.mistaken.conf');
      fs.writeFileSync(confPath, edit(fs.readFileSync(s.confPath, 'utf8')));
    }
    // The replica's V8 flags come before the script: the same runtime as `raftmq cluster` gives it.
    const proc = this.spawnIn(s.index, [this.codePath('cli/main.ts'), 'node', '--config', confPath], ['ignore', 'ignore', this.opts.stderr ?? 'ignore'], REPLICA_V8_FLAGS);
    proc.on('error', () => {});
    this.procs.set(id, proc);
    this.suspended.delete(id);
  }

  startAll(): void {
    for (const id of this.ids) this.start(id);
  }

  /** SIGKILL and wait for the exit. */
  async kill(id: string): Promise<void> {
    await this.signalAndWait(id, 'SIGKILL', 0);
  }

  /** SIGTERM (graceful: a master hands over), SIGKILL after the grace period. */
  async stop(id: string): Promise<void> {
    if (this.suspended.has(id)) this.resume(id);
    await this.signalAndWait(id, 'SIGTERM', STOP_GRACE_MS);
  }

  /** Deletes the store of a stopped replica, as a replaced disk would have it (its broker.conf
   *  and its logs stay, for the report). */
  wipe(id: string): void {
    if (this.running(id)) throw new Error(`wipe: ${id} is running`);
    const dir = this.spec(id).dir;
    for (const entry of fs.readdirSync(dir)) {
      if (entry !== 'broker.conf' && entry !== 'logs') fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
    }
  }

  suspend(id: string): void {
    const pid = this.pid(id);
    if (pid === undefined) return;
    if (this.killPid(pid, 'SIGSTOP')) this.suspended.add(id);
  }

  resume(id: string): void {
    const pid = this.pid(id);
    this.suspended.delete(id);
    if (pid !== undefined) this.killPid(pid, 'SIGCONT');
  }

  /** process.kill that tolerates a process that just exited. */
  private killPid(pid: number, signal: NodeJS.Signals): boolean {
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  private async signalAndWait(id: string, signal: NodeJS.Signals, graceMs: number): Promise<void> {
    const p = this.procs.get(id);
    if (!p || !this.running(id) || p.pid === undefined) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    try {
      process.kill(p.pid, signal);
    } catch {
      // exited meanwhile: the exit event comes anyway
    }
    this.suspended.delete(id);
    if (graceMs > 0) {
      const timer = setTimeout(() => {
        if (this.running(id)) this.killPid(p.pid!, 'SIGKILL');
      }, graceMs);
      await exited;
      clearTimeout(timer);
    } else {
      await exited;
    }
  }

  // ---- delay relays ------------------------------------------------------------------------

  private async startRelay(s: NodeSpec, relayPort: number): Promise<void> {
    const { host, port } = parseAddr(s.peerAddr);
    const proc = this.spawnIn(s.index, [this.codePath('chaos/delay-relay.ts'), host, String(relayPort), host, String(port), String(1 + s.index)], ['pipe', 'pipe', 'inherit']);
    const lines = readline.createInterface({ input: proc.stdout! });
    const relay = { proc, lines };
    this.relays.set(s.id, relay);
    await this.relayLine(relay, 'listening', RELAY_START_TIMEOUT_MS);
  }

  private relayLine(relay: Relay, want: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        relay.lines.off('line', onLine);
        reject(new Error(`delay relay did not answer "${want}" within ${timeoutMs} ms`));
      }, timeoutMs);
      const onLine = (line: string): void => {
        if (line.trim() !== want) return;
        clearTimeout(timer);
        relay.lines.off('line', onLine);
        resolve();
      };
      relay.lines.on('line', onLine);
    });
  }

  /** Switches the delay of node id's relay (0 = off); resolves once the relay confirmed. */
  async setRelayDelay(id: string, ms: number, jitterMs: number): Promise<void> {
    const relay = this.relays.get(id);
    if (!relay) throw new Error(`no delay relay for ${id}`);
    const acked = this.relayLine(relay, 'ok', 5000);
    relay.proc.stdin!.write(`delay ${ms} ${jitterMs}\n`);
    await acked;
  }

  // ---- teardown ----------------------------------------------------------------------------

  /** Stops every node gracefully (in parallel) and the relays. */
  async stopAll(): Promise<void> {
    await Promise.all(this.ids.map((id) => this.stop(id)));
  }

  async stopRelays(): Promise<void> {
    await Promise.all(
      [...this.relays.values()].map(async (r) => {
        if (r.proc.exitCode !== null || r.proc.signalCode !== null) return;
        const exited = new Promise<void>((res) => r.proc.once('exit', () => res()));
        r.proc.kill('SIGKILL');
        await exited;
      }),
    );
    this.relays.clear();
  }

  /** SIGKILL whatever still runs (sync: for exit handlers). */
  killAllSync(): void {
    const all = [...this.procs.values(), ...[...this.relays.values()].map((r) => r.proc)];
    for (const p of all) {
      if (p.pid !== undefined && p.exitCode === null && p.signalCode === null) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  }

  /** Kills everything and unregisters the exit cleanup. */
  async destroy(): Promise<void> {
    await Promise.all(this.ids.map((id) => this.kill(id)));
    await this.stopRelays();
    this.unregister();
  }
}

