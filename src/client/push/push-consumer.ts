// The push consumer (RocketMQ's DefaultMQPushConsumer): subscribe, register a handler (or
// iterate with for-await), start. It joins its group at the brokers, takes its share of the
// subscribed topics' queues (QueueTable), pulls each with long polling under flow control, and
// hands the messages to the consume service; offsets are committed in rounds, when a queue is
// taken away, and at shutdown. docs/consumer.md ("Push consumer") tells the behaviour.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { homedir } from 'node:os';
import path from 'node:path';
import {
  BROKER_SUSPEND_MAX_TIME_MS,
  CLIENT_ID_PATTERN,
  CONSUMER_HEARTBEAT_INTERVAL_MS,
  GROUP_NAME_LENGTH_MAX,
  MAX_RECONSUME_TIMES_DEFAULT,
  PULL_BATCH_SIZE_DEFAULT,
  PULL_COUNT_MAX,
  QUEUE_LOCK_RENEW_INTERVAL_MS,
  SUBSCRIPTION_COUNT_MAX,
  SUSPEND_CURRENT_QUEUE_MS,
  TAG_EXPRESSION_LENGTH_MAX,
  TOPIC_NAME_LENGTH_MAX,
  TOPIC_NAME_PATTERN,
  parseTagExpression,
  retryTopicOf,
  type Subscription,
} from '../../protocol/index.ts';
import { namesrvAddrFromEnv } from '../namesrv-client.ts';
import type { MessageQueue } from '../publish-route.ts';
import { AllocateMessageQueueAveragely } from './allocate.ts';
import { NamesrvGroups, SingleGroup, type Brokers } from './brokers.ts';
import type { ConsumeEvent, ConsumeHost, ConsumeService } from './consume-host.ts';
import { CONSUME_LATER_MS, ConsumeConcurrentlyService } from './consume-concurrently.ts';
import { ConsumeIterator } from './consume-iterator.ts';
import { ConsumeOrderlyService } from './consume-orderly.ts';
import { GroupMembership } from './membership.ts';
import { LocalFileOffsetStore, RemoteOffsetStore, type OffsetStore } from './offset-store.ts';
import type { ProcessQueue, QueueEntry } from './process-queue.ts';
import { pullLoop } from './pull-loop.ts';
import { QueueTable } from './queue-table.ts';
import { Semaphore } from './semaphore.ts';
import type { AckableMessage, MessageListenerConcurrently, MessageListenerOrderly, PushConsumerOptions } from './types.ts';

export const CONSUME_MESSAGE_BATCH_MAX_SIZE_DEFAULT = 1;
export const CONSUME_THREAD_MAX_DEFAULT = 20;
export const PULL_THRESHOLD_FOR_QUEUE_DEFAULT = 1000;
export const PULL_THRESHOLD_SIZE_FOR_QUEUE_DEFAULT = 100 * 1024 * 1024;
export const PERSIST_CONSUMER_OFFSET_INTERVAL_DEFAULT = 5000;
export const REBALANCE_INTERVAL_DEFAULT = 20_000;
/** An orderly queue another member still holds is tried again this often (besides rebalances). */
export const LOCK_RETRY_INTERVAL_MS = 1000;
/** Shutdown waits at most this long for handler calls in flight. */
export const SHUTDOWN_HANDLER_WAIT_MS = 10_000;

type State = 'created' | 'running' | 'stopping' | 'stopped';

function positiveInt(name: string, v: number | undefined, dflt: number, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < 1 || v > max) throw new TypeError(`${name} must be an integer in 1..${max}, got ${String(v)}`);
  return v;
}

/** host@pid@random, only with the characters CLIENT_ID_PATTERN allows. */
function defaultClientId(): string {
  const host = hostname().replace(/[^a-zA-Z0-9_.:-]/g, '_').slice(0, 64) || 'host';
  return `${host}@${process.pid}@${randomBytes(4).toString('hex')}`;
}

export class PushConsumer {
  readonly group: string;
  readonly clientId: string;
  private readonly options: PushConsumerOptions;
  private readonly consumeModel: 'CLUSTERING' | 'BROADCASTING';
  private readonly subscriptions = new Map<string, { expression: string; tags: ReadonlySet<string> | null }>();
  private listener: { kind: 'concurrently'; fn: MessageListenerConcurrently } | { kind: 'orderly'; fn: MessageListenerOrderly } | null = null;
  private iterator: ConsumeIterator | null = null;
  private service: ConsumeService | null = null;
  private state: State = 'created';
  private brokers: Brokers | null = null;
  private membership: GroupMembership | null = null;
  private table: QueueTable | null = null;
  private offsetStore: OffsetStore | null = null;
  /** Readable queues per subscribed topic, as last routed. */
  private readonly routes = new Map<string, MessageQueue[]>();
  private readonly timers: NodeJS.Timeout[] = [];
  private lockRetry: NodeJS.Timeout | null = null;
  private relockTimer: NodeJS.Timeout | null = null;
  private rebalancing: Promise<void> | null = null;
  private rebalanceAgain = false;
  private readonly counts = new Map<ConsumeEvent, number>();
  private readonly host: ConsumeHost;
  private readonly requestTimeoutMs: number;

  constructor(options: PushConsumerOptions) {
    if (typeof options.group !== 'string' || options.group.length > GROUP_NAME_LENGTH_MAX || !TOPIC_NAME_PATTERN.test(options.group)) {
      throw new TypeError(`group must be 1..${GROUP_NAME_LENGTH_MAX} characters of [%|a-zA-Z0-9_-], got ${JSON.stringify(options.group)}`);
    }
    if (options.servers !== undefined && options.namesrv !== undefined) throw new TypeError('give servers or namesrv, not both');
    if (options.consumeModel !== undefined && options.consumeModel !== 'CLUSTERING' && options.consumeModel !== 'BROADCASTING') {
      throw new TypeError(`consumeModel must be 'CLUSTERING' or 'BROADCASTING', got ${JSON.stringify(options.consumeModel)}`);
    }
    const clientId = options.clientId ?? defaultClientId();
    if (!CLIENT_ID_PATTERN.test(clientId)) throw new TypeError(`clientId must match ${String(CLIENT_ID_PATTERN)}, got ${JSON.stringify(clientId)}`);
    const from = options.consumeFrom ?? 'last';
    if (from !== 'first' && from !== 'last' && !(typeof from === 'object' && from !== null && Number.isSafeInteger(from.timestamp) && from.timestamp >= 0)) {
      throw new TypeError(`consumeFrom must be 'first', 'last' or { timestamp }, got ${JSON.stringify(from)}`);
    }
    if (options.maxReconsumeTimes !== undefined && (!Number.isSafeInteger(options.maxReconsumeTimes) || options.maxReconsumeTimes < -1)) {
      throw new TypeError(`maxReconsumeTimes must be an integer >= -1, got ${String(options.maxReconsumeTimes)}`);
    }
    if (options.suspendCurrentQueueTimeMillis !== undefined && (!Number.isSafeInteger(options.suspendCurrentQueueTimeMillis) || options.suspendCurrentQueueTimeMillis < 0)) {
      throw new TypeError('suspendCurrentQueueTimeMillis must be an integer >= 0');
    }
    positiveInt('pullBatchSize', options.pullBatchSize, PULL_BATCH_SIZE_DEFAULT, PULL_COUNT_MAX);
    for (const k of ['consumeMessageBatchMaxSize', 'consumeThreadMax', 'pullThresholdForQueue', 'pullThresholdSizeForQueue', 'persistConsumerOffsetInterval', 'heartbeatBrokerInterval', 'rebalanceInterval', 'requestTimeoutMs', 'pullLongPollMs'] as const) {
      positiveInt(k, options[k], 1);
    }
    if (options.allocateStrategy !== undefined && typeof options.allocateStrategy?.allocate !== 'function') throw new TypeError('allocateStrategy must have an allocate function');
    this.options = options;
    this.group = options.group;
    this.clientId = clientId;
    this.consumeModel = options.consumeModel ?? 'CLUSTERING';
    this.requestTimeoutMs = options.requestTimeoutMs ?? 3000;
    const self = this;
    this.host = {
      consumeModel: this.consumeModel,
      consumeMessageBatchMaxSize: options.consumeMessageBatchMaxSize ?? CONSUME_MESSAGE_BATCH_MAX_SIZE_DEFAULT,
      // Orderly retries without end unless told (RocketMQ's -1 there).
      get maxReconsumeTimes() {
        return options.maxReconsumeTimes ?? (self.listener?.kind === 'orderly' ? -1 : MAX_RECONSUME_TIMES_DEFAULT);
      },
      suspendCurrentQueueTimeMillis: options.suspendCurrentQueueTimeMillis ?? SUSPEND_CURRENT_QUEUE_MS,
      consumeLaterMs: CONSUME_LATER_MS,
      semaphore: new Semaphore(options.consumeThreadMax ?? CONSUME_THREAD_MAX_DEFAULT),
      get running() {
        return self.state === 'running';
      },
      heartbeatAnsweredAt: (brokerName) => this.membership?.heartbeatAnsweredAt(brokerName) ?? 0,
      sendBack: (mq, entry, delayLevel, max) => this.sendBack(mq, entry, delayLevel, max),
      progress: (pq) => {
        if (this.table?.owns(pq) === true) this.offsetStore!.update(pq.mq, pq.committableOffset());
      },
      count: (e) => this.counts.set(e, (this.counts.get(e) ?? 0) + 1),
    };
  }

  /** Subscribes to `topic` with a tag expression (`*`, or `TagA || TagB`); before start(). */
  subscribe(topic: string, expression = '*'): void {
    if (this.state !== 'created') throw new TypeError('subscribe before start()');
    if (typeof topic !== 'string' || topic.length > TOPIC_NAME_LENGTH_MAX || !TOPIC_NAME_PATTERN.test(topic)) throw new TypeError(`topic must be 1..${TOPIC_NAME_LENGTH_MAX} characters of [%|a-zA-Z0-9_-], got ${JSON.stringify(topic)}`);
    if (typeof expression !== 'string' || expression.length > TAG_EXPRESSION_LENGTH_MAX) throw new TypeError(`expression must be a string of at most ${TAG_EXPRESSION_LENGTH_MAX} characters`);
    if (!this.subscriptions.has(topic) && this.subscriptions.size >= SUBSCRIPTION_COUNT_MAX - 1) throw new TypeError(`at most ${SUBSCRIPTION_COUNT_MAX - 1} subscriptions`);
    this.subscriptions.set(topic, { expression, tags: parseTagExpression(expression) });
  }

  registerMessageListener(fn: MessageListenerConcurrently): void {
    this.setListener({ kind: 'concurrently', fn });
  }

  /** Orderly consumption: one batch of a queue at a time, in order, under a lock at the master. */
  registerMessageListenerOrderly(fn: MessageListenerOrderly): void {
    this.setListener({ kind: 'orderly', fn });
  }

  private setListener(l: NonNullable<PushConsumer['listener']>): void {
    if (this.state !== 'created') throw new TypeError('register the listener before start()');
    if (typeof l.fn !== 'function') throw new TypeError('the listener must be a function');
    if (this.iterator !== null || this.listener !== null) throw new TypeError('one listener or messages(), not both');
    this.listener = l;
  }

  /** The for-await form (instead of a listener): every message of this member's queues, each to
   *  be ack()ed or reconsumeLater()ed. Ends at shutdown(). */
  messages(): AsyncGenerator<AckableMessage, void, undefined> {
    if (this.listener !== null) throw new TypeError('a listener is registered: messages() is the other form');
    if (this.iterator === null) {
      if (this.state !== 'created') throw new TypeError('call messages() before start() the first time');
      this.iterator = new ConsumeIterator(this.host, () => this.table?.queues() ?? []);
    }
    return this.iterator.messages();
  }

  /** The queues this member consumes now, sorted. */
  allocatedQueues(): readonly MessageQueue[] {
    return this.table?.allocated() ?? [];
  }

  /** Counters: messages consumed, failed, sent back, sendBacks failed, to the DLQ, suspended. */
  stats(): Readonly<Record<ConsumeEvent, number>> {
    const names: ConsumeEvent[] = ['consumed', 'failed', 'sentBack', 'sendBackFailed', 'broadcastFailed', 'toDlq', 'suspended'];
    return Object.fromEntries(names.map((n) => [n, this.counts.get(n) ?? 0])) as Record<ConsumeEvent, number>;
  }

  async start(): Promise<void> {
    if (this.state !== 'created') throw new TypeError(`start() on a consumer that is ${this.state}`);
    if (this.subscriptions.size === 0) throw new TypeError('subscribe to a topic before start()');
    const o = this.options;
    const namesrv = o.namesrv ?? (o.servers === undefined ? namesrvAddrFromEnv() : null);
    if (o.servers === undefined && (namesrv === null || namesrv.length === 0)) throw new TypeError('servers or namesrv (or NAMESRV_ADDR) must list at least one host:port');
    const groupOptions = { requestTimeoutMs: this.requestTimeoutMs };
    const brokers: Brokers = o.servers !== undefined ? new SingleGroup({ ...groupOptions, servers: o.servers }) : new NamesrvGroups(namesrv!, groupOptions);
    this.brokers = brokers;
    if (this.consumeModel === 'CLUSTERING') this.subscriptions.set(retryTopicOf(this.group), { expression: '*', tags: null });
    this.offsetStore =
      this.consumeModel === 'BROADCASTING'
        ? new LocalFileOffsetStore(o.offsetStoreDir ?? path.join(homedir(), '.raftmq_offsets'), this.clientId, this.group)
        : new RemoteOffsetStore(
            async (mq) => (await this.masterOf(mq).callMaster<'queryOffset'>({ type: 'queryOffset', group: this.group, topic: mq.topic, queueId: mq.queueId }, this.call())).offset,
            async (mq, offset) => void (await this.masterOf(mq).callMaster<'commitOffset'>({ type: 'commitOffset', group: this.group, topic: mq.topic, queueId: mq.queueId, offset }, this.call())),
          );
    const orderly = this.listener?.kind === 'orderly';
    this.iterator ??= this.listener === null ? new ConsumeIterator(this.host, () => this.table?.queues() ?? []) : null;
    this.service =
      this.listener === null ? this.iterator! : this.listener.kind === 'orderly' ? new ConsumeOrderlyService(this.host, this.listener.fn) : new ConsumeConcurrentlyService(this.host, this.listener.fn);
    this.membership = new GroupMembership({
      group: this.group,
      clientId: this.clientId,
      consumeModel: this.consumeModel,
      brokers,
      requestTimeoutMs: this.requestTimeoutMs,
      subscriptions: () => [...this.subscriptions].map(([topic, s]): Subscription => ({ topic, expression: s.expression })),
      brokerNames: () => this.brokerNames(),
      onChange: () => void this.rebalance(),
      onRejoin: (brokerName) => this.rejoined(brokerName),
    });
    this.table = new QueueTable({
      group: this.group,
      clientId: this.clientId,
      consumeModel: this.consumeModel,
      orderly: () => orderly,
      strategy: o.allocateStrategy ?? new AllocateMessageQueueAveragely(),
      consumeFrom: o.consumeFrom ?? 'last',
      brokers,
      offsetStore: this.offsetStore,
      requestTimeoutMs: this.requestTimeoutMs,
      onAdded: (pq) => void this.pull(pq),
      onRebalance: (queues) => {
        try {
          o.onRebalance?.(queues);
        } catch {
          // the user's callback must not stop the rebalance
        }
      },
    });
    this.state = 'running';
    brokers.onChange(() => void this.rebalance());
    await this.refreshRoutes();
    const refusals = await this.membership.heartbeat();
    if (refusals.length > 0) {
      await this.shutdown();
      throw refusals[0];
    }
    this.membership.start();
    await this.rebalance();
    const every = (ms: number, fn: () => unknown) => this.timers.push(setInterval(() => void fn(), ms));
    every(o.heartbeatBrokerInterval ?? CONSUMER_HEARTBEAT_INTERVAL_MS, () => this.membership!.heartbeat());
    every(o.rebalanceInterval ?? REBALANCE_INTERVAL_DEFAULT, () => this.rebalance());
    every(o.persistConsumerOffsetInterval ?? PERSIST_CONSUMER_OFFSET_INTERVAL_DEFAULT, () => this.offsetStore!.persist(this.table!.allocated()));
    if (orderly && this.consumeModel === 'CLUSTERING') every(QUEUE_LOCK_RENEW_INTERVAL_MS, () => this.renewLocks());
  }

  /** Stops pulling, waits (bounded) for handler calls in flight, commits, leaves the group. */
  async shutdown(): Promise<void> {
    if (this.state !== 'running') {
      this.state = 'stopped';
      return;
    }
    this.state = 'stopping';
    for (const t of this.timers.splice(0)) clearInterval(t);
    if (this.lockRetry !== null) clearTimeout(this.lockRetry);
    if (this.relockTimer !== null) clearTimeout(this.relockTimer);
    this.membership!.stop();
    this.iterator?.close();
    await this.rebalancing?.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.table!.clear(), new Promise((r) => (timer = setTimeout(r, SHUTDOWN_HANDLER_WAIT_MS)))]);
    clearTimeout(timer);
    await this.membership!.unregister();
    this.state = 'stopped';
    await this.brokers!.close();
  }

  /** One rebalance at a time; a request during one runs one more round after it. */
  private rebalance(): Promise<void> {
    if (this.state !== 'running') return Promise.resolve();
    if (this.rebalancing !== null) {
      this.rebalanceAgain = true;
      return this.rebalancing;
    }
    this.rebalancing = (async () => {
      do {
        this.rebalanceAgain = false;
        await this.refreshRoutes();
        if (this.state !== 'running') return;
        const clientIds = this.membership!.clientIds;
        // Clustering before any member list: keep what we have rather than drop everything.
        if (this.consumeModel === 'CLUSTERING' && !clientIds.includes(this.clientId)) continue;
        try {
          await this.table!.update(this.routes, clientIds);
        } catch {
          // A round that failed half-way is repaired by the next (timer, change, lock retry).
        }
        this.scheduleLockRetry();
      } while (this.rebalanceAgain && this.state === 'running');
    })().finally(() => {
      this.rebalancing = null;
    });
    return this.rebalancing;
  }

  private scheduleLockRetry(): void {
    if (this.table!.unlockedCount === 0 || this.lockRetry !== null || this.state !== 'running') return;
    this.lockRetry = setTimeout(() => {
      this.lockRetry = null;
      void this.rebalance();
    }, LOCK_RETRY_INTERVAL_MS);
  }

  private async renewLocks(): Promise<void> {
    for (const pq of await this.table!.renewLocks()) this.service!.dispatch(pq);
  }

  /** Heartbeats reach `brokerName`'s master again after a gap in which it may have dropped this
   *  member and freed its locks: its queues there are not consumed until locked again. */
  private rejoined(brokerName: string): void {
    if (this.listener?.kind !== 'orderly' || this.consumeModel !== 'CLUSTERING' || this.table === null) return;
    for (const pq of this.table.queues()) if (pq.mq.brokerName === brokerName) pq.locked = false;
    void this.relock();
  }

  /** Renews every lock now, and again every LOCK_RETRY_INTERVAL_MS while some queue is not held. */
  private async relock(): Promise<void> {
    await this.renewLocks().catch(() => undefined);
    if (this.state === 'running' && this.relockTimer === null && this.table!.queues().some((pq) => !pq.locked && !pq.dropped)) {
      this.relockTimer = setTimeout(() => {
        this.relockTimer = null;
        void this.relock();
      }, LOCK_RETRY_INTERVAL_MS);
    }
  }

  private async refreshRoutes(): Promise<void> {
    await Promise.all(
      [...this.subscriptions.keys()].map(async (topic) => {
        try {
          this.routes.set(topic, await this.brokers!.queuesOf(topic));
        } catch {
          // kept as last routed; the next round asks again
        }
      }),
    );
  }

  /** The broker groups that hold a subscribed topic, sorted ('' alone with `servers`). */
  private brokerNames(): string[] {
    if (this.options.servers !== undefined) return [''];
    const names = new Set<string>();
    for (const qs of this.routes.values()) for (const q of qs) names.add(q.brokerName);
    return [...names].sort();
  }

  private masterOf(mq: MessageQueue) {
    const c = this.brokers!.client(mq.brokerName);
    if (c === undefined) throw new Error(`no client for broker group ${mq.brokerName}`);
    return c;
  }

  private call() {
    return { tries: 3, deadline: Date.now() + this.requestTimeoutMs * 2 };
  }

  private async sendBack(mq: MessageQueue, entry: QueueEntry, delayLevel: number, maxReconsumeTimes: number): Promise<boolean> {
    try {
      await this.masterOf(mq).callMaster<'sendBack'>(
        { type: 'sendBack', group: this.group, topic: mq.topic, queueId: mq.queueId, queueOffset: entry.offset, delayLevel, maxReconsumeTimes },
        this.call(),
      );
      // The retry topic may have been created by this sendBack: route it now, not in a rebalance
      // interval (the other members find it at their next rebalance).
      if (this.consumeModel === 'CLUSTERING' && (this.routes.get(retryTopicOf(this.group))?.length ?? 0) === 0) void this.rebalance();
      return true;
    } catch {
      return false;
    }
  }

  private pull(pq: ProcessQueue): Promise<void> {
    const sub = this.subscriptions.get(pq.mq.topic);
    const o = this.options;
    return pullLoop(pq, {
      brokers: this.brokers!,
      group: this.group,
      expression: sub?.expression ?? '*',
      tags: sub?.tags ?? null,
      pullBatchSize: o.pullBatchSize ?? PULL_BATCH_SIZE_DEFAULT,
      longPollMs: o.pullLongPollMs ?? BROKER_SUSPEND_MAX_TIME_MS,
      requestTimeoutMs: this.requestTimeoutMs,
      countMax: o.pullThresholdForQueue ?? PULL_THRESHOLD_FOR_QUEUE_DEFAULT,
      bytesMax: o.pullThresholdSizeForQueue ?? PULL_THRESHOLD_SIZE_FOR_QUEUE_DEFAULT,
      running: () => this.state === 'running',
      dispatch: (q) => this.service!.dispatch(q),
    });
  }
}
