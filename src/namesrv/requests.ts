// What a NameServer accepts: every field of every request checked, BAD_REQUEST with a message
// naming the field otherwise. A registration comes back as a fresh object holding only the
// known fields, its topics sorted by name, so the route table can compare two of them directly.
import { parseAddr } from '../net/index.ts';
import {
  BROKER_ID_MAX,
  BROKER_NAME_PATTERN,
  BROKER_NODE_ID_PATTERN,
  RaftmqError,
  REGISTRATION_TOPICS_MAX,
  TOPIC_NAME_LENGTH_MAX,
  TOPIC_NAME_PATTERN,
  TOPIC_QUEUE_COUNT_MAX,
  WATCH_ROUTES_WAIT_MS_MAX,
  type BrokerRegistration,
  type TopicConfigInfo,
} from '../protocol/index.ts';

/** Highest PERM_* combination (read, write, and RocketMQ's inherit and priority bits). */
const PERM_MAX = 15;
/** Characters of a bad value quoted back in a message. */
const QUOTED_CHARS_MAX = 64;
/** Longest brokerAddr (a host name of 253 characters and a port). */
const ADDR_LENGTH_MAX = 260;

function bad(message: string): RaftmqError {
  return new RaftmqError('BAD_REQUEST', message);
}

function quote(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : String(v);
  return s.length > QUOTED_CHARS_MAX ? `${s.slice(0, QUOTED_CHARS_MAX - 3)}...` : s;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function name(what: string, v: unknown): string {
  if (typeof v !== 'string' || !BROKER_NAME_PATTERN.test(v)) throw bad(`${what} ${quote(v)} is not a valid name; expected 1..127 characters of [A-Za-z0-9_.-]`);
  return v;
}

function nodeId(what: string, v: unknown): string {
  if (typeof v !== 'string' || !BROKER_NODE_ID_PATTERN.test(v)) throw bad(`${what} ${quote(v)} is not a valid node id; expected 1..64 characters of [A-Za-z0-9_]`);
  return v;
}

function integer(what: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw bad(`${what} must be an integer in ${min}..${max}, got ${quote(v)}`);
  return v;
}

function topicName(what: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > TOPIC_NAME_LENGTH_MAX || !TOPIC_NAME_PATTERN.test(v)) {
    throw bad(`${what} ${quote(v)} is not a valid topic name; expected 1..${TOPIC_NAME_LENGTH_MAX} characters of [%|a-zA-Z0-9_-]`);
  }
  return v;
}

function topicConfig(i: number, v: unknown): TopicConfigInfo {
  const at = `registerBroker: broker.topics[${i}]`;
  if (!isRecord(v)) throw bad(`${at} is not an object`);
  return {
    topic: topicName(`${at}.topic`, v.topic),
    readQueueNums: integer(`${at}.readQueueNums`, v.readQueueNums, 0, TOPIC_QUEUE_COUNT_MAX),
    writeQueueNums: integer(`${at}.writeQueueNums`, v.writeQueueNums, 0, TOPIC_QUEUE_COUNT_MAX),
    perm: integer(`${at}.perm`, v.perm, 0, PERM_MAX),
  };
}

/** The topics of a registration, sorted by name; duplicates and more than `topicsMax` refused. */
function topicConfigs(v: unknown, topicsMax: number): TopicConfigInfo[] {
  if (!Array.isArray(v)) throw bad('registerBroker: broker.topics must be an array');
  if (v.length > topicsMax) throw bad(`registerBroker: broker.topics lists ${v.length} topics; at most ${topicsMax} per registration`);
  const topics = v.map((t, i) => topicConfig(i, t)).sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
  for (let i = 1; i < topics.length; i++) {
    if (topics[i]!.topic === topics[i - 1]!.topic) throw bad(`registerBroker: broker.topics lists topic ${quote(topics[i]!.topic)} twice`);
  }
  return topics;
}

function brokerAddr(v: unknown): string {
  const problem = `registerBroker: broker.brokerAddr ${quote(v)} is not host:port`;
  if (typeof v !== 'string' || v.length > ADDR_LENGTH_MAX) throw bad(problem);
  try {
    parseAddr(v);
  } catch {
    throw bad(problem);
  }
  return v;
}

/** A registerBroker's `broker`, checked and normalized. */
export function validateRegistration(v: unknown, topicsMax: number = REGISTRATION_TOPICS_MAX): BrokerRegistration {
  if (!isRecord(v)) throw bad('registerBroker: broker must be an object');
  const role = v.role;
  if (role !== 'MASTER' && role !== 'SLAVE') throw bad(`registerBroker: broker.role must be MASTER or SLAVE, got ${quote(role)}`);
  const brokerId = integer('registerBroker: broker.brokerId', v.brokerId, 0, BROKER_ID_MAX);
  if ((role === 'MASTER') !== (brokerId === 0)) {
    throw bad(`registerBroker: broker.brokerId ${brokerId} does not fit role ${role}; a MASTER registers as brokerId 0, a SLAVE with its own id above 0`);
  }
  return {
    clusterName: name('registerBroker: broker.clusterName', v.clusterName),
    brokerName: name('registerBroker: broker.brokerName', v.brokerName),
    brokerId,
    nodeId: nodeId('registerBroker: broker.nodeId', v.nodeId),
    brokerAddr: brokerAddr(v.brokerAddr),
    role,
    term: integer('registerBroker: broker.term', v.term, 0, Number.MAX_SAFE_INTEGER),
    topics: topicConfigs(v.topics, topicsMax),
  };
}

export interface UnregisterRequest {
  readonly clusterName: string;
  readonly brokerName: string;
  readonly nodeId: string;
}

/** An unregisterBroker's fields, checked. */
export function validateUnregister(v: Record<string, unknown>): UnregisterRequest {
  return {
    clusterName: name('unregisterBroker: clusterName', v.clusterName),
    brokerName: name('unregisterBroker: brokerName', v.brokerName),
    nodeId: nodeId('unregisterBroker: nodeId', v.nodeId),
  };
}

/** A getRouteInfoByTopic's topic, checked. */
export function validateTopic(v: Record<string, unknown>): string {
  return topicName('getRouteInfoByTopic: topic', v.topic);
}

export interface WatchRequest {
  readonly instanceId: string;
  /** -1 (or any value below 0): the client knows no version yet. */
  readonly sinceVersion: number;
  readonly waitMs: number;
}

/** Longest instanceId accepted (a UUID is 36 characters; a client that knows none sends ''). */
const INSTANCE_ID_LENGTH_MAX = 64;

/** A watchRoutes' fields, checked: waitMs at most WATCH_ROUTES_WAIT_MS_MAX. */
export function validateWatch(v: Record<string, unknown>): WatchRequest {
  if (typeof v.instanceId !== 'string' || v.instanceId.length > INSTANCE_ID_LENGTH_MAX) {
    throw bad(`watchRoutes: instanceId must be a string of at most ${INSTANCE_ID_LENGTH_MAX} characters ('' when none is known), got ${quote(v.instanceId)}`);
  }
  return {
    instanceId: v.instanceId,
    sinceVersion: integer('watchRoutes: sinceVersion', v.sinceVersion, -1, Number.MAX_SAFE_INTEGER),
    waitMs: integer('watchRoutes: waitMs', v.waitMs, 0, WATCH_ROUTES_WAIT_MS_MAX),
  };
}
