// Watches every replica's role and term (a status request each POLL_MS per node, each node on its
// own so a stopped one does not delay the others) and writes a MasterEvent whenever the master
// the group has (the MASTER with the highest term among fresh answers) changes. The nemesis asks
// it for the current master; the end of the run asks it whether the replicas caught up.
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

export class Monitor {
  private readonly client: ClusterClient;
  private readonly seen = new Map<string, Seen>();
  private stopped = false;
  private loops: Promise<void>[] = [];
  private lastKey: string | null = null;
  private currentMaster: { node: string; term: number } | null = null;

  /** nodes: id -> client address. */
  constructor(
    private readonly nodes: ReadonlyMap<string, string>,
    private readonly recorder: HistoryRecorder,
  ) {
    this.client = new ClusterClient({ servers: [...nodes.values()], requestTimeoutMs: STATUS_TIMEOUT_MS, connectTimeoutMs: STATUS_TIMEOUT_MS, backoffMsMin: 10, backoffMsMax: 100 });
  }

  start(): void {
    this.loops = [...this.nodes].map(([id, addr]) => this.pollLoop(id, addr));
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
      this.evaluate();
      await delay(Math.max(0, POLL_MS - (Date.now() - started)));
    }
  }

  private evaluate(): void {
    let best: NodeStatus | null = null;
    for (const { status } of this.seen.values()) {
      if (status?.role === 'MASTER' && (best === null || status.term > best.term)) best = status;
    }
    const key = best ? `${best.nodeId}@${best.term}` : '';
    if (key === this.lastKey) return;
    this.lastKey = key;
    this.currentMaster = best ? { node: best.nodeId, term: best.term } : null;
    this.recorder.record({ op: 'master', type: 'info', client: 'monitor', node: best?.nodeId ?? '', ...(best ? { term: best.term } : {}) });
  }

  /** The master as last seen ('' for none). */
  get master(): string {
    return this.currentMaster?.node ?? '';
  }

  /** Waits for a master (up to timeoutMs); '' if none. */
  async waitForMaster(timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.master) return this.master;
      await delay(20);
    }
    return this.master;
  }

  /** Fresh statuses of every node, asked now. */
  async pollAll(): Promise<Map<string, NodeStatus | null>> {
    const entries = await Promise.all(
      [...this.nodes].map(async ([id, addr]) => [id, await this.client.status(addr, 1000).catch(() => null)] as const),
    );
    return new Map(entries);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
    await this.client.close();
  }
}
