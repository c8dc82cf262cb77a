// The broker groups a push consumer talks to, the same way over one group's servers or over
// NameServers: a topic's readable queues, each group's client, and a replica's address by node
// id (for pull suggestions, which name a node).
import { PERM_READ, RaftmqError } from '../../protocol/index.ts';
import { BrokerGroups } from '../broker-groups.ts';
import { ClusterClient, type ClusterOptions } from '../cluster.ts';
import { NamesrvClient } from '../namesrv-client.ts';
import type { MessageQueue } from '../publish-route.ts';
import { compareQueues } from './allocate.ts';

export interface Brokers {
  /** The readable queues of `topic`, sorted; [] when it does not exist (yet). */
  queuesOf(topic: string): Promise<MessageQueue[]>;
  /** The client of a broker group (brokerName '' with `servers`). */
  client(brokerName: string): ClusterClient | undefined;
  /** The address of replica `nodeId` of a group, as the last route named it. */
  nodeAddr(brokerName: string, nodeId: string): string | undefined;
  /** Called when the NameServers push a route change (never with `servers`). */
  onChange(listener: () => void): void;
  close(): Promise<void>;
}

const isNotFound = (err: unknown): boolean => err instanceof RaftmqError && err.code === 'TOPIC_NOT_FOUND';

/** One group given by its servers: brokerName ''. */
export class SingleGroup implements Brokers {
  private readonly cluster: ClusterClient;
  private nodes = new Map<string, string>();

  constructor(options: ClusterOptions) {
    this.cluster = new ClusterClient(options);
  }

  async queuesOf(topic: string): Promise<MessageQueue[]> {
    const now = Date.now();
    await this.cluster.discoverMaster(now + this.cluster.requestTimeoutMs).catch(() => undefined);
    try {
      const route = await this.cluster.route(topic, { tries: 3, deadline: now + this.cluster.requestTimeoutMs * 3 }, { mustExist: true });
      this.nodes = new Map(route.replicas.map((r) => [r.nodeId, r.addr]));
      return Array.from({ length: route.queues }, (_, queueId) => ({ topic, brokerName: '', queueId }));
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
  }

  client(brokerName: string): ClusterClient | undefined {
    return brokerName === '' ? this.cluster : undefined;
  }

  nodeAddr(_brokerName: string, nodeId: string): string | undefined {
    return this.nodes.get(nodeId);
  }

  onChange(): void {}

  close(): Promise<void> {
    return this.cluster.close();
  }
}

/** Every group the NameServers name, followed through their pushes. */
export class NamesrvGroups implements Brokers {
  private readonly namesrv: NamesrvClient;
  private readonly groups: BrokerGroups;
  private readonly nodes = new Map<string, Map<string, string>>();

  constructor(namesrv: readonly string[], options: Omit<ClusterOptions, 'servers'>) {
    this.namesrv = new NamesrvClient({ namesrv, ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}) });
    this.groups = new BrokerGroups(this.namesrv, options);
    this.groups.watch();
  }

  async queuesOf(topic: string): Promise<MessageQueue[]> {
    let data;
    try {
      data = await this.namesrv.topicRoute(topic);
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
    this.groups.update(data.brokerDatas);
    for (const b of data.brokerDatas) this.nodes.set(b.brokerName, new Map(b.replicas.map((r) => [r.nodeId, r.addr])));
    const out: MessageQueue[] = [];
    for (const qd of data.queueDatas) {
      if ((qd.perm & PERM_READ) === 0 || this.groups.client(qd.brokerName) === undefined) continue;
      for (let q = 0; q < qd.readQueueNums; q++) out.push({ topic, brokerName: qd.brokerName, queueId: q });
    }
    return out.sort(compareQueues);
  }

  client(brokerName: string): ClusterClient | undefined {
    return this.groups.client(brokerName);
  }

  nodeAddr(brokerName: string, nodeId: string): string | undefined {
    return this.nodes.get(brokerName)?.get(nodeId);
  }

  onChange(listener: () => void): void {
    this.groups.onChange(() => listener());
  }

  async close(): Promise<void> {
    await this.groups.close();
    await this.namesrv.close();
  }
}
