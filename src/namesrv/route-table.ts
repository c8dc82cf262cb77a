// The NameServer's route table (RocketMQ's RouteInfoManager): the registrations replicas sent,
// each with when it was last heard, and the routes derived from them on every read. Pure: no
// I/O, and the clock is the `now` argument of each call, so tests drive silence and expiry.
//
// Route rules, per broker group (brokerName):
// - brokerAddrs "0" is the address of the MASTER registration with the highest term. A MASTER
//   claim at a lower term (a deposed master that has not re-registered yet) is left out of
//   brokerAddrs; a SLAVE registration at a higher term than the best MASTER claim means that
//   master is stale too (a newer election has happened), so the group then has no "0".
// - Each SLAVE registration is listed under its brokerId (two under one id: the higher term).
// - A topic's QueueData comes from the registration with the highest term that lists it, so a
//   topic created on the group appears with the first replica that registers it, and a deleted
//   one disappears once every replica has registered again without it.
// `version` counts the changes a client would see (a replica added or dropped, or its role,
// term, brokerId, address or topics changed); a renewal that changes nothing leaves it.
import {
  BROKER_EXPIRY_MS,
  NAMESRV_BROKERS_MAX,
  RaftmqError,
  REGISTRATION_TOPICS_MAX,
  sameTopicConfigs,
  type BrokerData,
  type BrokerRegistration,
  type ClusterInfo,
  type QueueData,
  type ReplicaRoute,
  type TopicConfigInfo,
  type TopicRouteData,
} from '../protocol/index.ts';
import { validateRegistration, type UnregisterRequest } from './requests.ts';

/** Topic entries over all registrations (every replica lists its group's topics): bounds the
 *  table's memory (about 100 bytes an entry). A registration that would pass it is refused. */
export const REGISTERED_TOPICS_MAX = 1 << 20;

export interface RouteTableOptions {
  readonly expiryMs?: number;
  readonly brokersMax?: number;
  readonly topicsPerRegistrationMax?: number;
  readonly registeredTopicsMax?: number;
}

/** A change worth one log line: a replica added or dropped, a group's master changed. */
export type RouteEvent =
  | { readonly kind: 'added'; readonly registration: BrokerRegistration }
  | { readonly kind: 'dropped'; readonly brokerName: string; readonly nodeId: string; readonly reason: 'expired' | 'unregistered'; readonly silentMs: number }
  /** `nodeId` '' when the group has no master now. */
  | { readonly kind: 'master'; readonly brokerName: string; readonly nodeId: string; readonly addr: string; readonly term: number };

interface Entry {
  readonly reg: BrokerRegistration;
  readonly topics: ReadonlyMap<string, TopicConfigInfo>;
  lastHeardMs: number;
}

interface Group {
  readonly clusterName: string;
  readonly entries: Map<string, Entry>;
}

export class RouteTable {
  private readonly groups = new Map<string, Group>();
  private versionValue = 0;
  private registrations = 0;
  private topicEntries = 0;
  private readonly expiryMs: number;
  private readonly brokersMax: number;
  private readonly topicsPerRegistrationMax: number;
  private readonly registeredTopicsMax: number;

  constructor(options: RouteTableOptions = {}) {
    this.expiryMs = options.expiryMs ?? BROKER_EXPIRY_MS;
    this.brokersMax = options.brokersMax ?? NAMESRV_BROKERS_MAX;
    this.topicsPerRegistrationMax = options.topicsPerRegistrationMax ?? REGISTRATION_TOPICS_MAX;
    this.registeredTopicsMax = options.registeredTopicsMax ?? REGISTERED_TOPICS_MAX;
  }

  /** Bumped by every change a client would see; never by a plain renewal. */
  get version(): number {
    return this.versionValue;
  }

  /** Registrations held (replicas of every group). */
  get size(): number {
    return this.registrations;
  }

  /** Records a registration (checked here: BAD_REQUEST, or OVERLOADED at a limit) heard at `now`. */
  register(input: unknown, now: number): RouteEvent[] {
    const reg = validateRegistration(input, this.topicsPerRegistrationMax);
    const group = this.groups.get(reg.brokerName);
    if (group !== undefined && group.clusterName !== reg.clusterName) {
      throw new RaftmqError(
        'BAD_REQUEST',
        `registerBroker: broker group ${reg.brokerName} is registered in cluster ${group.clusterName}, not ${reg.clusterName}; a group belongs to one cluster (the other registrations expire ${this.expiryMs} ms after their last renewal)`,
      );
    }
    const old = group?.entries.get(reg.nodeId);
    if (old === undefined && this.registrations >= this.brokersMax) {
      throw new RaftmqError('OVERLOADED', `registerBroker: this NameServer holds ${this.registrations} registrations, its limit`);
    }
    const topicEntries = this.topicEntries - (old?.topics.size ?? 0) + reg.topics.length;
    if (topicEntries > this.registeredTopicsMax) {
      throw new RaftmqError('OVERLOADED', `registerBroker: ${reg.topics.length} more topics would pass this NameServer's limit of ${this.registeredTopicsMax} topic entries over all registrations`);
    }
    if (old !== undefined && sameRegistration(old.reg, reg)) {
      old.lastHeardMs = now;
      return [];
    }
    const g = group ?? { clusterName: reg.clusterName, entries: new Map<string, Entry>() };
    if (group === undefined) this.groups.set(reg.brokerName, g);
    const masterBefore = masterOf(g);
    const topics = old !== undefined && sameTopicConfigs(old.reg.topics, reg.topics) ? old.topics : new Map(reg.topics.map((t) => [t.topic, t]));
    g.entries.set(reg.nodeId, { reg, topics, lastHeardMs: now });
    if (old === undefined) this.registrations++;
    this.topicEntries = topicEntries;
    this.versionValue++;
    const events: RouteEvent[] = old === undefined ? [{ kind: 'added', registration: reg }] : [];
    return this.withMasterChange(events, reg.brokerName, masterBefore, masterOf(g));
  }

  /** Drops a registration (a replica stopping cleanly); nothing when it is not held. */
  unregister(req: UnregisterRequest, now: number): RouteEvent[] {
    const group = this.groups.get(req.brokerName);
    const entry = group?.entries.get(req.nodeId);
    if (group === undefined || entry === undefined || group.clusterName !== req.clusterName) return [];
    return this.drop(req.brokerName, group, entry, 'unregistered', now);
  }

  /** Drops every registration not renewed for the expiry time. */
  expire(now: number): RouteEvent[] {
    const events: RouteEvent[] = [];
    for (const [brokerName, group] of [...this.groups]) {
      for (const entry of [...group.entries.values()]) {
        if (now - entry.lastHeardMs > this.expiryMs) events.push(...this.drop(brokerName, group, entry, 'expired', now));
      }
    }
    return events;
  }

  /** The groups that hold `topic`, sorted by brokerName; null when no live group lists it. */
  topicRoute(topic: string, now: number): TopicRouteData | null {
    const queueDatas: QueueData[] = [];
    const brokerDatas: BrokerData[] = [];
    for (const [brokerName, group] of this.sortedGroups()) {
      const queues = queueDataOf(brokerName, group, topic);
      if (queues === null) continue;
      queueDatas.push(queues);
      brokerDatas.push(brokerDataOf(brokerName, group, now));
    }
    return brokerDatas.length === 0 ? null : { queueDatas, brokerDatas };
  }

  /** Every group's BrokerData, sorted by brokerName. */
  brokerDatas(now: number): BrokerData[] {
    return this.sortedGroups().map(([brokerName, group]) => brokerDataOf(brokerName, group, now));
  }

  /** Clusters -> groups, and every group's BrokerData. */
  clusterInfo(now: number): ClusterInfo {
    const byCluster = new Map<string, string[]>();
    const brokers: [string, BrokerData][] = [];
    for (const [brokerName, group] of this.sortedGroups()) {
      brokers.push([brokerName, brokerDataOf(brokerName, group, now)]);
      const names = byCluster.get(group.clusterName) ?? [];
      names.push(brokerName);
      byCluster.set(group.clusterName, names);
    }
    // fromEntries, not assignment: a name such as "__proto__" is a plain key here.
    return { brokerAddrTable: Object.fromEntries(brokers), clusterAddrTable: Object.fromEntries([...byCluster].sort(byKey)) };
  }

  /** Every topic any live registration lists, sorted. */
  topicList(): string[] {
    const topics = new Set<string>();
    for (const group of this.groups.values()) for (const entry of group.entries.values()) for (const topic of entry.topics.keys()) topics.add(topic);
    return [...topics].sort();
  }

  private drop(brokerName: string, group: Group, entry: Entry, reason: 'expired' | 'unregistered', now: number): RouteEvent[] {
    const masterBefore = masterOf(group);
    group.entries.delete(entry.reg.nodeId);
    if (group.entries.size === 0) this.groups.delete(brokerName);
    this.registrations--;
    this.topicEntries -= entry.topics.size;
    this.versionValue++;
    const events: RouteEvent[] = [{ kind: 'dropped', brokerName, nodeId: entry.reg.nodeId, reason, silentMs: now - entry.lastHeardMs }];
    return this.withMasterChange(events, brokerName, masterBefore, masterOf(group));
  }

  private withMasterChange(events: RouteEvent[], brokerName: string, before: Entry | null, after: Entry | null): RouteEvent[] {
    if (before?.reg.nodeId === after?.reg.nodeId && before?.reg.brokerAddr === after?.reg.brokerAddr) return events;
    events.push({ kind: 'master', brokerName, nodeId: after?.reg.nodeId ?? '', addr: after?.reg.brokerAddr ?? '', term: after?.reg.term ?? 0 });
    return events;
  }

  private sortedGroups(): [string, Group][] {
    return [...this.groups].sort(byKey);
  }
}

function byKey<T>(a: readonly [string, T], b: readonly [string, T]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

/** The group's master by the term rule (see the top of this file), or null. */
function masterOf(group: Group): Entry | null {
  let best: Entry | null = null;
  let slaveTermMax = -1;
  for (const entry of group.entries.values()) {
    const { role, term, nodeId } = entry.reg;
    if (role === 'SLAVE') slaveTermMax = Math.max(slaveTermMax, term);
    // Two MASTER claims at one term cannot both be true (one leader per term); the tie-break
    // only keeps the answer the same however the registrations arrived.
    else if (best === null || term > best.reg.term || (term === best.reg.term && nodeId < best.reg.nodeId)) best = entry;
  }
  return best !== null && best.reg.term >= slaveTermMax ? best : null;
}

/** Of two registrations, the one whose word counts: the higher term, then a MASTER, then by node id. */
function outranks(a: BrokerRegistration, b: BrokerRegistration): boolean {
  if (a.term !== b.term) return a.term > b.term;
  if (a.role !== b.role) return a.role === 'MASTER';
  return a.nodeId < b.nodeId;
}

function brokerDataOf(brokerName: string, group: Group, now: number): BrokerData {
  const master = masterOf(group);
  const addrs = new Map<number, BrokerRegistration>();
  if (master !== null) addrs.set(0, master.reg);
  const replicas: ReplicaRoute[] = [];
  for (const entry of [...group.entries.values()].sort((a, b) => (a.reg.nodeId < b.reg.nodeId ? -1 : 1))) {
    const r = entry.reg;
    replicas.push({ nodeId: r.nodeId, brokerId: r.brokerId, addr: r.brokerAddr, role: r.role, term: r.term, silentMs: Math.max(0, now - entry.lastHeardMs) });
    if (r.role !== 'SLAVE') continue;
    const other = addrs.get(r.brokerId);
    if (other === undefined || outranks(r, other)) addrs.set(r.brokerId, r);
  }
  const brokerAddrs = Object.fromEntries([...addrs].sort((a, b) => a[0] - b[0]).map(([id, r]) => [String(id), r.brokerAddr]));
  return { cluster: group.clusterName, brokerName, brokerAddrs, replicas };
}

function queueDataOf(brokerName: string, group: Group, topic: string): QueueData | null {
  let best: { reg: BrokerRegistration; config: TopicConfigInfo } | null = null;
  for (const entry of group.entries.values()) {
    const config = entry.topics.get(topic);
    if (config !== undefined && (best === null || outranks(entry.reg, best.reg))) best = { reg: entry.reg, config };
  }
  if (best === null) return null;
  const { readQueueNums, writeQueueNums, perm } = best.config;
  return { brokerName, readQueueNums, writeQueueNums, perm, topicSysFlag: 0 };
}

/** Whether a registration says what the one held says (then it is a renewal). Both validated:
 *  same field set, topics sorted. */
function sameRegistration(a: BrokerRegistration, b: BrokerRegistration): boolean {
  return a.brokerId === b.brokerId && a.brokerAddr === b.brokerAddr && a.role === b.role && a.term === b.term && sameTopicConfigs(a.topics, b.topics);
}
