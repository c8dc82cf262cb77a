// Operator calls: node status, topic creation, leadership transfer, routes.
import type { NodeStatus } from '../broker/protocol.ts';
import { RaftmqError } from '../net/errors.ts';
import { ClusterClient, type ClusterOptions } from './cluster.ts';
import type { RouteResponse } from './types.ts';

export interface AdminOptions extends ClusterOptions {
  /** Deadline of one admin call, retries included. */
  readonly timeoutMs?: number;
}

export interface NodeStatusResult {
  readonly addr: string;
  readonly status: NodeStatus | null;
  readonly error: RaftmqError | null;
}

export class Admin {
  private readonly cluster: ClusterClient;
  private readonly timeoutMs: number;

  constructor(options: AdminOptions) {
    this.cluster = new ClusterClient(options);
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  /** One node's status (no retry). */
  status(server: string): Promise<NodeStatus> {
    return this.cluster.status(server);
  }

  /** Every listed node's status; unreachable ones carry their error. */
  statusAll(servers: readonly string[] = this.cluster.servers): Promise<NodeStatusResult[]> {
    return Promise.all(
      servers.map((addr) =>
        this.cluster.status(addr).then(
          (status) => ({ addr, status, error: null }),
          (err: unknown) => ({
            addr,
            status: null,
            error: err instanceof RaftmqError ? err : new RaftmqError('INTERNAL', String(err), { cause: err }),
          }),
        ),
      ),
    );
  }

  /** Creates (or updates) a topic with `queues` queues, on the master. */
  async createTopic(topic: string, queues: number): Promise<void> {
    if (!Number.isInteger(queues) || queues <= 0) throw new TypeError('queues must be a positive integer');
    await this.cluster.callMaster<'createTopic'>({ type: 'createTopic', topic, queues }, this.call());
    this.cluster.invalidateRoute(topic);
  }

  /** Asks the master to hand leadership to node `to`. */
  async transferLeader(to: string): Promise<void> {
    await this.cluster.callMaster<'transferLeader'>({ type: 'transferLeader', to }, this.call());
  }

  /** RocketMQ's searchOffset: the offset of the queue's first message stored at or after
   *  `timestamp` (ms since the epoch), or the queue's max offset when every message is older. */
  async searchOffset(topic: string, queueId: number, timestamp: number): Promise<number> {
    return (await this.cluster.callMaster<'searchOffset'>({ type: 'searchOffset', topic, queueId, timestamp }, this.call())).offset;
  }

  /** The topic's route (queue count, master, replicas), fresh from a server; TOPIC_NOT_FOUND
   *  for a topic that does not exist, whether or not a send would create it. */
  route(topic: string): Promise<RouteResponse> {
    return this.cluster.route(topic, this.call(), { refresh: true, mustExist: true });
  }

  close(): Promise<void> {
    return this.cluster.close();
  }

  private call() {
    return { tries: 3, deadline: Date.now() + this.timeoutMs };
  }
}
