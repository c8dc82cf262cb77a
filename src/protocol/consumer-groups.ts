// Consumer groups on the wire: membership (heartbeats at the brokers), ordered-consumption queue
// locks, retries and dead letters (send back), delayed delivery, and the names and constants
// RocketMQ gives them (docs/consumer.md). Both ends import these; the broker checks again.

/** How a group consumes: each message to one member (queues divided among members), or every
 *  message to every member. RocketMQ's MessageModel. */
export type ConsumeModel = 'CLUSTERING' | 'BROADCASTING';

/** One subscription as a member declares it in its heartbeats: a topic and a tag expression
 *  (`*`, or tags separated by `||`). */
export interface Subscription {
  readonly topic: string;
  readonly expression: string;
}

/** A (topic, queue) of one broker group, as lock requests and answers name it. */
export interface QueueRef {
  readonly topic: string;
  readonly queueId: number;
}

/** The live members of a consumer group as one master knows them, sorted by client id.
 *  `version` changes whenever the set does (a restarted or new master starts another sequence,
 *  told apart by `instance`). */
export interface ConsumerGroupView {
  readonly group: string;
  readonly instance: string;
  readonly version: number;
  readonly clientIds: readonly string[];
  /** Only when the consumerList asked `withConnections` (mqadmin consumerConnection). */
  readonly connections?: readonly ConsumerConnection[];
}

/** One live member as its heartbeats declared it (RocketMQ's Connection plus its subscriptions). */
export interface ConsumerConnection {
  readonly clientId: string;
  /** host:port the master sees its heartbeats come from. */
  readonly clientAddr: string;
  readonly consumeModel: ConsumeModel;
  readonly subscriptions: readonly Subscription[];
  /** ms since its last heartbeat reached this master. */
  readonly lastHeartbeatAgoMs: number;
}

// ---- RocketMQ's names ----------------------------------------------------------------------

/** A group's retry topic: failed messages come back to the group through it. */
export const RETRY_GROUP_TOPIC_PREFIX = '%RETRY%';
/** A group's dead-letter topic: messages that failed maxReconsumeTimes times; no subscription
 *  reads it. */
export const DLQ_GROUP_TOPIC_PREFIX = '%DLQ%';
/** The internal topic delayed messages wait in: queue `level - 1` per delay level. */
export const SCHEDULE_TOPIC = 'SCHEDULE_TOPIC_XXXX';

export const retryTopicOf = (group: string): string => RETRY_GROUP_TOPIC_PREFIX + group;
export const dlqTopicOf = (group: string): string => DLQ_GROUP_TOPIC_PREFIX + group;

/** Message properties, RocketMQ's MessageConst names. */
export const PROPERTY_DELAY_TIME_LEVEL = 'DELAY';
export const PROPERTY_REAL_TOPIC = 'REAL_TOPIC';
export const PROPERTY_REAL_QUEUE_ID = 'REAL_QID';
/** The topic a retried message was first sent to. */
export const PROPERTY_RETRY_TOPIC = 'RETRY_TOPIC';
/** The msgId of the first delivery; a retried message keeps it as its msgId. */
export const PROPERTY_ORIGIN_MESSAGE_ID = 'ORIGIN_MESSAGE_ID';
export const PROPERTY_RECONSUME_TIME = 'RECONSUME_TIME';
export const PROPERTY_MAX_RECONSUME_TIMES = 'MAX_RECONSUME_TIMES';

// ---- RocketMQ's constants ------------------------------------------------------------------

/** Broker key messageDelayLevel's default: delay level n waits the n-th of these. */
export const MESSAGE_DELAY_LEVEL_DEFAULT = '1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h';
/** A retry's delay level is this plus the message's reconsume times (10 s, 30 s, 1 min, ...). */
export const RETRY_DELAY_LEVEL_BASE = 3;
/** Tries of a failed message before it goes to the group's DLQ. */
export const MAX_RECONSUME_TIMES_DEFAULT = 16;
/** Messages per pull of a push consumer. */
export const PULL_BATCH_SIZE_DEFAULT = 32;
/** How long the broker holds a push consumer's pull when nothing is there (long polling). */
export const BROKER_SUSPEND_MAX_TIME_MS = 15_000;
/** A queue lock the member did not renew lapses after this (REBALANCE_LOCK_MAX_LIVE_TIME). */
export const QUEUE_LOCK_LIFETIME_MS = 60_000;
/** Members renew their queue locks this often (REBALANCE_LOCK_INTERVAL). */
export const QUEUE_LOCK_RENEW_INTERVAL_MS = 20_000;
/** An ordered handler's failed message is retried in place after this
 *  (SUSPEND_CURRENT_QUEUE_A_MOMENT). */
export const SUSPEND_CURRENT_QUEUE_MS = 1_000;
/** Members heartbeat to every master this often; a member silent for
 *  CONSUMER_HEARTBEAT_TIMEOUT_MS is dropped from its group (a closed connection drops it at once). */
export const CONSUMER_HEARTBEAT_INTERVAL_MS = 1_000;
export const CONSUMER_HEARTBEAT_TIMEOUT_MS = 3_000;

// ---- limits ----------------------------------------------------------------------------------

/** A member's client id: RocketMQ's clientId shape (ip@instance), at most 128 characters. */
export const CLIENT_ID_PATTERN = /^[a-zA-Z0-9_.:@-]{1,128}$/;
/** Subscriptions one heartbeat may declare. */
export const SUBSCRIPTION_COUNT_MAX = 64;
/** Longest tag expression. */
export const TAG_EXPRESSION_LENGTH_MAX = 1024;
/** Members of one group a broker keeps. */
export const GROUP_MEMBER_COUNT_MAX = 1024;
/** Consumer groups one broker keeps members for. */
export const CONSUMER_GROUP_COUNT_MAX = 10_000;
/** Queues in one lock or unlock request. */
export const LOCK_BATCH_QUEUE_COUNT_MAX = 1024;
/** Longest wait of a consumerList long poll. */
export const CONSUMER_LIST_WAIT_MS_MAX = 30_000;

/** The tags a tag expression accepts, or null for all (`*` or empty): RocketMQ's `TagA || TagB`. */
export function parseTagExpression(expression: string): ReadonlySet<string> | null {
  const trimmed = expression.trim();
  if (trimmed === '' || trimmed === '*') return null;
  const tags = trimmed
    .split('||')
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
  return tags.length === 0 ? null : new Set(tags);
}
