// The broker groups a NameServer-routed client talks to: one ClusterClient per group (brokerName),
// its replica list and master kept current from NameServer answers and pushes (watchRoutes), so
// a new master is used the moment it registers instead of after the next route poll.
import type { BrokerData, RouteChanges } from '../protocol/index.ts';
import { ClusterClient, type ClusterOptions } from './cluster.ts';
import type { NamesrvClient } from './namesrv-client.ts';

/** Groups one client keeps clients for (a route naming more is refused, BAD_REQUEST). */
export const BROKER_GROUPS_MAX = 1024;

export type GroupClientOptions = Omit<ClusterOptions, 'servers'>;

export class BrokerGroups {
  private readonly clients = new Map<string, ClusterClient>();
  private readonly listeners = new Set<(changes: RouteChanges) => void>();
  private stopWatch: (() => void) | null = null;

  constructor(
    private readonly namesrv: NamesrvClient,
    private readonly options: GroupClientOptions,
  ) {}

  /** Starts following the NameServers' pushes (idempotent). */
  watch(): void {
    if (this.stopWatch !== null) return;
    this.stopWatch = this.namesrv.watch((changes) => {
      this.update(changes.brokerDatas);
      for (const l of this.listeners) l(changes);
    });
  }

  onChange(listener: (changes: RouteChanges) => void): void {
    this.listeners.add(listener);
  }

  /** The client of group `brokerName`, undefined before any route named it. */
  client(brokerName: string): ClusterClient | undefined {
    return this.clients.get(brokerName);
  }

  names(): string[] {
    return [...this.clients.keys()];
  }

  /** Takes the replicas and master of each group as a NameServer reported them. */
  update(datas: readonly BrokerData[]): void {
    for (const d of datas) {
      const servers = [...new Set(d.replicas.map((r) => r.addr).concat(Object.values(d.brokerAddrs)))].sort();
      if (servers.length === 0) continue;
      let client = this.clients.get(d.brokerName);
      if (client === undefined) {
        if (this.clients.size >= BROKER_GROUPS_MAX) continue;
        client = new ClusterClient({ ...this.options, servers });
        this.clients.set(d.brokerName, client);
      } else client.setServers(servers);
      const master = d.brokerAddrs['0'];
      if (master !== undefined) {
        const reg = d.replicas.find((r) => r.addr === master && r.role === 'MASTER');
        client.learnMaster(master, reg?.term ?? 0);
      }
    }
  }

  /** Socket writes and requests over every group's connections. */
  stats(): { writes: number; requests: number } {
    let writes = 0;
    let requests = 0;
    for (const c of this.clients.values()) {
      const s = c.stats();
      writes += s.writes;
      requests += s.requests;
    }
    return { writes, requests };
  }

  async close(): Promise<void> {
    this.stopWatch?.();
    await Promise.all([...this.clients.values()].map((c) => c.close()));
    this.clients.clear();
  }
}
