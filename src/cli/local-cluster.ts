// Starts real `raftmq node` processes on 127.0.0.1 (free ports, a temporary directory, small
// segments) and stops them by PID: the local group of the multi-process tests and the benchmark.
// It lives here, beside `raftmq cluster`, so that scripts and tests share it without importing
// each other.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeConfig, renderConfig } from '../broker/index.ts';
import { freeLocalPorts } from '../net/index.ts';
import type { NodeStatus } from '../protocol/index.ts';
import { queryStatus, spawnNode } from './cluster.ts';

export interface LaunchedNode {
  readonly id: string;
  readonly clientAddr: string;
  /** host:port of its Raft listener. */
  readonly peerAddr: string;
  readonly confPath: string;
  readonly dir: string;
  /** host:port of its Prometheus metrics listener; '' when metrics are off. */
  readonly metricsAddr: string;
  proc: ChildProcess | null;
}

export class LocalCluster {
  readonly nodes: LaunchedNode[];
  readonly root: string;
  /** What every node's broker.conf shares (addNode writes the same). */
  private readonly shared: { peers: string; clientPeers: string; extra: Record<string, string>; metrics: boolean };

  private constructor(root: string, nodes: LaunchedNode[], shared: LocalCluster['shared']) {
    this.root = root;
    this.nodes = nodes;
    this.shared = shared;
  }

  /** `metrics`: each node serves Prometheus metrics on a free port of its own. `prepare` runs on
   *  each node's (empty) store directory before its broker.conf is written and it starts (a test
   *  mounts a small filesystem there). */
  static async create(opts: { nodes: number; extra?: Record<string, string>; stderr?: boolean; metrics?: boolean; prepare?: (id: string, dir: string) => void }): Promise<LocalCluster> {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'raftmq-cluster-'));
    const ports = await freeLocalPorts(opts.nodes * (opts.metrics ? 3 : 2));
    const metricsPort = (i: number): number => (opts.metrics ? ports[2 * opts.nodes + i]! : 0);
    const ids = Array.from({ length: opts.nodes }, (_, i) => `n${i}`);
    const peers = ids.map((id, i) => `${id}-127.0.0.1:${ports[opts.nodes + i]}`).join(';');
    const clientPeers = ids.map((id, i) => `${id}-127.0.0.1:${ports[i]}`).join(';');
    const nodes = ids.map((id, i) => {
      const dir = path.join(root, id);
      fs.mkdirSync(dir, { recursive: true });
      opts.prepare?.(id, dir);
      const config = makeConfig({
        dLegerPeers: peers,
        clientPeers,
        dLegerSelfId: id,
        listenPort: String(ports[i]),
        storePathRootDir: dir,
        mappedFileSizeCommitLog: String(64 * 1024 * 1024),
        ...opts.extra,
        ...(opts.metrics ? { metricsPromExporterPort: String(metricsPort(i)) } : {}),
      });
      const confPath = path.join(dir, 'broker.conf');
      fs.writeFileSync(confPath, renderConfig(config));
      return { id, clientAddr: `127.0.0.1:${ports[i]}`, peerAddr: `127.0.0.1:${ports[opts.nodes + i]}`, confPath, dir, metricsAddr: opts.metrics ? `127.0.0.1:${metricsPort(i)}` : '', proc: null };
    });
    const cluster = new LocalCluster(root, nodes, { peers, clientPeers, extra: opts.extra ?? {}, metrics: opts.metrics ?? false });
    for (const n of nodes) cluster.start(n.id, opts.stderr);
    return cluster;
  }

  /**
   * Creates (and starts) a replica `id` that joins the running group (dLegerJoin): its
   * dLegerPeers are the group's first ones plus itself, on free ports. It is no member until
   * `raftmq member add` (Admin.addMember) adds it with the returned node's addresses.
   */
  async addNode(id: string, stderr: boolean | 'pipe' = false): Promise<LaunchedNode> {
    if (this.nodes.some((n) => n.id === id)) throw new Error(`node ${id} exists`);
    const [clientPort, peerPort, metricsPort] = await freeLocalPorts(3);
    const dir = path.join(this.root, id);
    fs.mkdirSync(dir, { recursive: true });
    const config = makeConfig({
      dLegerPeers: `${this.shared.peers};${id}-127.0.0.1:${peerPort}`,
      clientPeers: `${this.shared.clientPeers};${id}-127.0.0.1:${clientPort}`,
      dLegerSelfId: id,
      dLegerJoin: 'true',
      listenPort: String(clientPort),
      storePathRootDir: dir,
      mappedFileSizeCommitLog: String(64 * 1024 * 1024),
      ...this.shared.extra,
      ...(this.shared.metrics ? { metricsPromExporterPort: String(metricsPort) } : {}),
    });
    const confPath = path.join(dir, 'broker.conf');
    fs.writeFileSync(confPath, renderConfig(config));
    const node: LaunchedNode = { id, clientAddr: `127.0.0.1:${clientPort}`, peerAddr: `127.0.0.1:${peerPort}`, confPath, dir, metricsAddr: this.shared.metrics ? `127.0.0.1:${metricsPort}` : '', proc: null };
    this.nodes.push(node);
    this.start(id, stderr);
    return node;
  }

  node(id: string): LaunchedNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  get servers(): string[] {
    return this.nodes.map((n) => n.clientAddr);
  }

  /** The group's brokerName (broker.conf's default unless `extra` set it). */
  get brokerName(): string {
    return this.shared.extra.brokerName ?? 'broker-a';
  }

  start(id: string, stderr: boolean | 'pipe' = false, extraArgs: readonly string[] = []): ChildProcess {
    const n = this.node(id);
    if (n.proc && n.proc.exitCode === null && n.proc.signalCode === null) throw new Error(`${id} is running`);
    const proc = spawnNode(n.confPath, stderr === 'pipe' ? 'pipe' : stderr ? 'inherit' : 'ignore', extraArgs);
    n.proc = proc;
    return proc;
  }

  /** Sends `signal` to the node's process (by PID). */
  signal(id: string, signal: NodeJS.Signals): void {
    const p = this.node(id).proc;
    if (p?.pid !== undefined) process.kill(p.pid, signal);
  }

  /** SIGKILL and wait for the exit. */
  async kill(id: string): Promise<void> {
    const p = this.node(id).proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    this.signal(id, 'SIGKILL');
    await exited;
  }

  /** SIGTERM (graceful) and wait for the exit; returns the exit code. */
  async stop(id: string): Promise<number | null> {
    const p = this.node(id).proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return p?.exitCode ?? null;
    const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    this.signal(id, 'SIGTERM');
    return await exited;
  }

  /** Deletes the node's store as a replaced disk would have it (the node must not be running);
   *  broker.conf stays. */
  wipe(id: string): void {
    const n = this.node(id);
    if (this.running(id)) throw new Error(`${id} is running`);
    for (const entry of fs.readdirSync(n.dir)) {
      if (entry !== 'broker.conf') fs.rmSync(path.join(n.dir, entry), { recursive: true, force: true });
    }
  }

  running(id: string): boolean {
    const p = this.node(id).proc;
    return !!p && p.exitCode === null && p.signalCode === null;
  }

  async statuses(): Promise<(NodeStatus | null)[]> {
    return Promise.all(this.nodes.map((n) => (this.running(n.id) ? queryStatus(n.clientAddr, 500) : Promise.resolve(null))));
  }

  /** Waits until one running node says it is MASTER (and the others agree or are unreachable). */
  async waitForMaster(timeoutMs = 30_000, exclude?: string): Promise<NodeStatus> {
    // Each node is polled on its own, so a stopped (SIGSTOP) node's slow answer does not delay
    // noticing the new master: the time measured is the failover's, not the poll's.
    const deadline = Date.now() + timeoutMs;
    let found: NodeStatus | null = null;
    await Promise.all(
      this.nodes.map(async (n) => {
        while (found === null && Date.now() < deadline) {
          const st = this.running(n.id) && n.id !== exclude ? await queryStatus(n.clientAddr, 200) : null;
          if (st?.role === 'MASTER' && found === null) found = st;
          else await new Promise((r) => setTimeout(r, 10));
        }
      }),
    );
    if (found === null) throw new Error(`no master within ${timeoutMs} ms`);
    return found;
  }

  /** Kills every process (SIGKILL) and removes the data. */
  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.kill(n.id)));
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}
