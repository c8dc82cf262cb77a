// Watches every replica's role and term (a status request each POLL_MS per node, each node on its
// own so a stopped one does not delay the others) and writes a MasterEvent whenever the master
// a broker group has (its MASTER with the highest term among fresh answers) changes. Terms are
// compared within a group only: each group is its own Raft group. The nemesis asks it for the
// current masters; the end of the run asks it whether the replicas caught up.
import { type NodeStatus, RaftmqError } from '../protocol/index.ts';
import { ClusterClient } from '../client/index.ts';
import { delay } from '../net/index.ts';
import type { HistoryRecorder } from './recorder.ts';

const POLL_MS = 50;
const STATUS_TIMEOUT_MS = 250;
/** A node whose status request timed out (packet loss, a busy machine) keeps its last answer
 *  this long; a refused or reset connection (a dead process) drops it at once. */
const STALE_STATUS_MS = 1000;

interface Seen {
  status: NodeStatus | null;
  at: number;
}

/** A replica the monitor watches. */
export interface WatchedNode {
  readonly addr: string;
  /** Its broker group (brokerName). */
  readonly group: string;
}

export class Monitor {
  private readonly client: ClusterClient;
  private readonly seen = new Map<string, Seen>();
  private stopped = false;
  private loops: Promise<void>[] = [];
  /** Per group: the last master key written, and the master. */
  private readonly lastKey = new Map<string, string>();
  private readonly currentMaster = new Map<string, { node: string; term: number }>();
  /** MasterEvents name the group only when there are several. */
  private readonly named: boolean;

  /** nodes: id -> client address and group. */
  constructor(
    private readonly nodes: ReadonlyMap<string, WatchedNode>,
    private readonly recorder: HistoryRecorder,
  ) {
    const servers = [...nodes.values()].map((n) => n.addr);
    this.client = new ClusterClient({ servers, requestTimeoutMs: STATUS_TIMEOUT_MS, connectTimeoutMs: STATUS_TIMEOUT_MS, backoffMsMin: 10, backoffMsMax: 100 });
    this.named = new Set([...nodes.values()].map((n) => n.group)).size > 1;
  }

  start(): void {
    this.loops = [...this.nodes].map(([id, n]) => this.pollLoop(id, n.addr));
  }

  private async pollLoop(id: string, addr: string): Promise<void> {
    while (!this.stopped) {
      const started = Date.now();
      let status: NodeStatus | null = null;
      let at = Date.now();
      try {
        status = await this.client.status(addr, STATUS_TIMEOUT_MS);
      } catch (err) {
        const last = this.seen.get(id);
        if (err instanceof RaftmqError && err.code === 'TIMEOUT' && last?.status && Date.now() - last.at < STALE_STATUS_MS) {
          status = last.status;
          at = last.at;
        }
      }
      if (this.stopped) return;
      this.seen.set(id, { status, at });
      this.evaluate(this.nodes.get(id)!.group);
      await delay(Math.max(0, POLL_MS - (Date.now() - started)));
    }
  }

  private evaluate(group: string): void {
    let best: NodeStatus | null = null;
    for (const [id, { status }] of this.seen) {
      if (this.nodes.get(id)?.group !== group) continue;
      if (status?.role === 'MASTER' && (best === null || status.term > best.term)) best = status;
    }
    const key = best ? `${best.nodeId}@${best.term}` : '';
    if (key === this.lastKey.get(group)) return;
    this.lastKey.set(group, key);
    if (best) this.currentMaster.set(group, { node: best.nodeId, term: best.term });
    else this.currentMaster.delete(group);
    this.recorder.record({ op: 'master', type: 'info', client: 'monitor', ...(this.named ? { group } : {}), node: best?.nodeId ?? '', ...(best ? { term: best.term } : {}) });
  }

  /** The groups watched, in order. */
  get groups(): string[] {
    return [...new Set([...this.nodes.values()].map((n) => n.group))];
  }

  /** The master of `group` as last seen ('' for none). */
  masterOf(group: string): string {
    return this.currentMaster.get(group)?.node ?? '';
  }

  /** The masters as last seen, for progress lines: the node ('' for none) with one group, else
   *  each group's ('-' for none) space-separated. */
  get master(): string {
    const groups = this.groups;
    if (groups.length === 1) return this.masterOf(groups[0]!);
    return groups.map((g) => this.masterOf(g) || '-').join(' ');
  }

  /** Waits until every group has a master (up to timeoutMs); the groups still without one. */
  async waitForMasters(timeoutMs: number): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    const missing = (): string[] => this.groups.filter((g) => this.masterOf(g) === '');
    while (Date.now() < deadline && missing().length > 0) await delay(20);
    return missing();
  }

  /** Fresh statuses of every node (or of `ids`), asked now. */
  async pollAll(ids?: readonly string[]): Promise<Map<string, NodeStatus | null>> {
    const which = ids === undefined ? [...this.nodes] : [...this.nodes].filter(([id]) => ids.includes(id));
    const entries = await Promise.all(which.map(async ([id, n]) => [id, await this.client.status(n.addr, 1000).catch(() => null)] as const));
    return new Map(entries);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
    await this.client.close();
  }
}
