// The NameServer's wire (src/namesrv): brokers register, clients ask for routes. Same framing as
// the broker's client protocol (msgpack frames, `id` echoed; errors are the shared `error`
// response). Shapes follow RocketMQ's RouteInfoManager: TopicRouteData = QueueData + BrokerData,
// and cluster info = clusters -> broker groups -> replicas.

/** Topic permissions (RocketMQ's PermName). */
export const PERM_READ = 4;
export const PERM_WRITE = 2;
export const PERM_READ_WRITE = PERM_READ | PERM_WRITE;

/** RocketMQ's default: a broker registers every 30 s. */
export const REGISTER_NAMESRV_PERIOD_MS_DEFAULT = 30_000;
/** A registration not renewed for this long is dropped (RocketMQ: 120 s). */
export const BROKER_EXPIRY_MS = 120_000;
/** How often a NameServer looks for expired registrations. */
export const BROKER_EXPIRY_SCAN_MS = 5_000;
/** Most topics one registration carries (more: the registration is refused, BAD_REQUEST). */
export const REGISTRATION_TOPICS_MAX = 65_536;
/** Most registrations (replicas) one NameServer holds; more are refused with OVERLOADED. */
export const NAMESRV_BROKERS_MAX = 4096;
/** Longest a watchRoutes long poll is held. */
export const WATCH_ROUTES_WAIT_MS_MAX = 30_000;
/** Default NameServer port (RocketMQ's). */
export const NAMESRV_PORT_DEFAULT = 9876;
/** clusterName and brokerName of a registration: broker.conf's rule for brokerClusterName and
 *  brokerName. */
export const BROKER_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,127}$/;
/** nodeId of a registration: broker.conf's rule for dLegerSelfId. */
export const BROKER_NODE_ID_PATTERN = /^[A-Za-z0-9_]{1,64}$/;
/** Highest brokerId a registration may carry (a slave's is its 1-based place among its group's
 *  peers, at most a handful). */
export const BROKER_ID_MAX = 1024;

export interface TopicConfigInfo {
  readonly topic: string;
  readonly readQueueNums: number;
  readonly writeQueueNums: number;
  /** PERM_* bits. */
  readonly perm: number;
}

/** Whether two topic lists (in the same order) say the same, field by field. */
export function sameTopicConfigs(a: readonly TopicConfigInfo[], b: readonly TopicConfigInfo[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.topic !== y.topic || x.readQueueNums !== y.readQueueNums || x.writeQueueNums !== y.writeQueueNums || x.perm !== y.perm) return false;
  }
  return true;
}

/** What one replica tells every NameServer about itself (RocketMQ's registerBroker). */
export interface BrokerRegistration {
  readonly clusterName: string;
  /** The broker group (RocketMQ's brokerName; raftmq's Raft group). */
  readonly brokerName: string;
  /** 0 while it is the master; its stable slave id otherwise (role.ts). */
  readonly brokerId: number;
  readonly nodeId: string;
  /** host:port of its client listener. */
  readonly brokerAddr: string;
  readonly role: 'MASTER' | 'SLAVE';
  /** Its Raft term: of two replicas of one group that both claim MASTER, the higher term wins. */
  readonly term: number;
  /** The group's topics as this replica has applied them. */
  readonly topics: readonly TopicConfigInfo[];
}

/** One replica as a NameServer last heard from it. */
export interface ReplicaRoute {
  readonly nodeId: string;
  readonly brokerId: number;
  readonly addr: string;
  readonly role: 'MASTER' | 'SLAVE';
  readonly term: number;
  /** ms since the NameServer last heard from it. */
  readonly silentMs: number;
}

/** RocketMQ's BrokerData, plus every live replica (raftmq clients use any replica to find the
 *  master). `brokerAddrs` maps brokerId (as a decimal string) to the client address; id 0 is the
 *  master, absent while the group has none. */
export interface BrokerData {
  readonly cluster: string;
  readonly brokerName: string;
  readonly brokerAddrs: Readonly<Record<string, string>>;
  readonly replicas: readonly ReplicaRoute[];
}

/** RocketMQ's QueueData. */
export interface QueueData {
  readonly brokerName: string;
  readonly readQueueNums: number;
  readonly writeQueueNums: number;
  readonly perm: number;
  readonly topicSysFlag: number;
}

/** RocketMQ's TopicRouteData: the groups that hold the topic's queues, sorted by brokerName. */
export interface TopicRouteData {
  readonly queueDatas: readonly QueueData[];
  readonly brokerDatas: readonly BrokerData[];
}

/** RocketMQ's ClusterInfo. */
export interface ClusterInfo {
  readonly brokerAddrTable: Readonly<Record<string, BrokerData>>;
  readonly clusterAddrTable: Readonly<Record<string, readonly string[]>>;
}

export type NamesrvRequest =
  | { type: 'registerBroker'; id: number; broker: BrokerRegistration }
  | { type: 'unregisterBroker'; id: number; clusterName: string; brokerName: string; nodeId: string }
  /** TOPIC_NOT_FOUND when no live group holds the topic. */
  | { type: 'getRouteInfoByTopic'; id: number; topic: string }
  | { type: 'getBrokerClusterInfo'; id: number }
  | { type: 'getAllTopicList'; id: number }
  /**
   * Long poll for route changes: answered at once when the NameServer's `instanceId` differs from
   * the one given (a restarted NameServer) or its version is past `sinceVersion`, otherwise when
   * the next change happens or after `waitMs` (at most WATCH_ROUTES_WAIT_MS_MAX), with every
   * group's current BrokerData. A change: a master or replica registered or dropped, a role or
   * term changed, a group's topics changed.
   */
  | { type: 'watchRoutes'; id: number; instanceId: string; sinceVersion: number; waitMs: number };

export interface RouteChanges {
  /** Random per NameServer process: versions of two processes are not comparable. */
  readonly instanceId: string;
  readonly version: number;
  /** Every group this NameServer knows, by brokerName order. */
  readonly brokerDatas: readonly BrokerData[];
}

export type NamesrvResponse =
  | { type: 'registered'; id: number; instanceId: string; version: number }
  | { type: 'ok'; id: number }
  | { type: 'topicRoute'; id: number; topic: string; route: TopicRouteData }
  | { type: 'clusterInfo'; id: number; info: ClusterInfo }
  | { type: 'topicList'; id: number; topics: readonly string[] }
  | { type: 'routeChanges'; id: number; changes: RouteChanges };
