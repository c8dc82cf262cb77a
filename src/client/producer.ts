// The producer: RocketMQ's send semantics over one broker group (`servers`) or a cluster of
// groups found through NameServers (`namesrv`), coalescing of concurrent sends into batched
// `send` requests, and idempotent retries.
//
// Queue choice (RocketMQ's): a message with `keys` goes to queue keyHash(keys) % n of the topic's
// queue list (groups by brokerName, then queue id), and so does a `queueId` (an index in that
// list) or a `selector`; such a send waits for its group's new master when the master fails
// (order first). Other sends go round robin over all writable queues of all groups; when a try
// was certainly not stored (no master, connection refused, NOT_MASTER...) the batch moves to a
// queue of another group.
//
// Idempotence (on by default): the producer has an id and numbers the messages it sends to each
// queue; a retry repeats the numbers, and the group answers a batch it already stored with the
// first result instead of storing it again (docs/producer.md: how long that is remembered). So a
// retry after an unknown outcome (a timeout, a lost connection) stays on its queue and is safe,
// and a send in flight to a master that stops answering is sent to the new master as soon as one
// is known. At most IDEMPOTENCE_WINDOW_BATCHES batches are in flight per queue, so a retry is
// always within the broker's window. With idempotence off, delivery is at-least-once: a retry
// after an unknown outcome can store the message twice (RocketMQ's behaviour).
//
// Ordering: sends awaited one after another keep their order; concurrent sends to one queue are
// stored in call order when they share a batch, but a retried batch can land after a later one.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  IDEMPOTENCE_WINDOW_BATCHES,
  MESSAGE_BODY_BYTES_MAX,
  SEND_BATCH_COUNT_MAX,
  PRODUCER_ID_PATTERN,
  TOPIC_QUEUE_COUNT_MAX,
  PROPERTY_DELAY_TIME_LEVEL,
  sendResultOf,
  type MessageInput,
  type SendBatchResult,
  type SendResultItem,
  RaftmqError,
  outcomeOf,
} from '../protocol/index.ts';
import { BROKER_GROUPS_MAX, BrokerGroups } from './broker-groups.ts';
import { ClusterClient, type ClusterOptions } from './cluster.ts';
import { LatencyFaultTolerance } from './latency-fault.ts';
import { NamesrvClient, namesrvAddrFromEnv } from './namesrv-client.ts';
import { publishRouteOf, publishRouteOfGroup, type MessageQueue, type PublishRoute } from './publish-route.ts';
import { PublishRoutes } from './publish-routes.ts';
import { QueueChooser, type QueueChoice } from './queue-chooser.ts';

export type { MessageQueue } from './publish-route.ts';
export { keyHash, type QueueSelector, type QueueChoice } from './queue-chooser.ts';

export const SEND_TIMEOUT_MS_DEFAULT = 3000;
export const RETRY_TIMES_WHEN_SEND_FAILED_DEFAULT = 2;
/** Default of ProducerOptions.batchBytesMax: bytes of message bodies in one coalesced send request
 *  (a larger message goes alone). Half the wire's SEND_BATCH_BYTES_MAX, which counts keys, tags and
 *  properties too, leaving room for them. */
export const BATCH_BYTES_MAX_DEFAULT = 4 * 1024 * 1024;
/** A queue's first sequence number is Date.now() times this (stays a safe integer until 2248). */
const SEQ_PER_MS = 1024;

export interface ProducerOptions extends Omit<ClusterOptions, 'servers'> {
  /** Client addresses of one group's replicas (any subset). */
  readonly servers?: readonly string[];
  /** NameServer addresses: routes over every group of the cluster. Default: NAMESRV_ADDR when
   *  `servers` is not given. */
  readonly namesrv?: readonly string[];
  /** Overall deadline of one send, retries included. Each try gets `requestTimeoutMs` if set,
   *  else an equal share: sendTimeoutMs / (1 + retryTimesWhenSendFailed). */
  readonly sendTimeoutMs?: number;
  /** Retries after the first try (RocketMQ's default 2: 3 tries in total). */
  readonly retryTimesWhenSendFailed?: number;
  /** Coalesce sends to one queue made in the same event-loop turn into one request
   *  (default true). Each caller still gets its own result or error. */
  readonly batchSends?: boolean;
  readonly batchCountMax?: number;
  readonly batchBytesMax?: number;
  /** Idempotent retries (default true). */
  readonly idempotence?: boolean;
  /** This producer's id for idempotence (PRODUCER_ID_PATTERN); default: host, pid and 64
   *  random bits. Two live producers must never share one. */
  readonly producerId?: string;
  /** RocketMQ's sendLatencyFaultEnable (default false): avoid slow or failing groups a while. */
  readonly sendLatencyFaultEnable?: boolean;
  /** Follow the NameServers' pushes of route changes (default true with `namesrv`). */
  readonly watchRoutes?: boolean;
  /** Called once for each broker group's client, before the producer's first request through it
   *  (tools that watch requests, such as the chaos runner). */
  readonly onGroupClient?: (brokerName: string, client: ClusterClient) => void;
}

export interface SendOptions extends QueueChoice {
  /** Overrides sendTimeoutMs for this call. */
  readonly timeoutMs?: number;
}

export type SendCallback = (err: Error | null, result?: SendResultItem) => void;

/** A message to send, with RocketMQ's delayTimeLevel: 1..n waits the broker's n-th
 *  messageDelayLevel before its queue gets it (property DELAY; above the last level: the last);
 *  0 or absent: not delayed. A delayed message goes in a request of its own (docs/consumer.md). */
export interface ProducerMessage extends MessageInput {
  readonly delayTimeLevel?: number;
}

/** Highest delayTimeLevel the client passes on (the broker caps it at its last level). */
const DELAY_TIME_LEVEL_MAX = 1000;

interface PendingSend {
  readonly message: MessageInput;
  readonly resolve: (r: SendResultItem) => void;
  readonly reject: (e: unknown) => void;
}

interface Batch {
  readonly mq: MessageQueue;
  readonly sends: PendingSend[];
  bytes: number;
  deadline: number;
  /** Holds a message whose queue was chosen (keys, queueId, selector): never moves group. */
  pinned: boolean;
  /** Tries left. */
  tries: number;
  /** First sequence number, once dispatched with idempotence. */
  seq: number;
}

/** Per queue: the next sequence number and the batches in flight or waiting for a slot. */
interface QueueState {
  nextSeq: number;
  inFlight: number;
  readonly waiting: Batch[];
}

export class Producer {
  /** One group's client (servers mode) or null. */
  private readonly single: ClusterClient | null;
  private readonly namesrv: NamesrvClient | null;
  private readonly groups: BrokerGroups | null;
  private readonly sendTimeoutMs: number;
  private readonly tries: number;
  private readonly tryTimeoutMs: number;
  private readonly batchSends: boolean;
  private readonly batchCountMax: number;
  private readonly batchBytesMax: number;
  readonly producerId: string | null;
  private readonly chooser: QueueChooser;
  private readonly routes: PublishRoutes;
  private readonly queues = new Map<string, QueueState>();
  private readonly onGroupClient: ProducerOptions['onGroupClient'];
  /** Group clients already given to onGroupClient. */
  private readonly announced = new WeakSet<ClusterClient>();
  /** One group's queues addressed by id without a route (directQueue). */
  private readonly directQueues = new Map<string, MessageQueue[]>();
  /** Open batches by queue (the route's MessageQueue objects). */
  private openBatches = new Map<MessageQueue, Batch>();
  private flushScheduled = false;
  private closed = false;
  private onewayFailures = 0;

  constructor(options: ProducerOptions) {
    const namesrv = options.namesrv ?? (options.servers === undefined ? namesrvAddrFromEnv() : null);
    if (options.servers !== undefined && options.namesrv !== undefined) throw new TypeError('give servers or namesrv, not both');
    if (options.servers === undefined && (namesrv === null || namesrv.length === 0)) {
      throw new TypeError('servers (one group) or namesrv (a cluster; or NAMESRV_ADDR) must list at least one host:port');
    }
    // Every check before any client starts: a constructor that throws leaves nothing running.
    const retries = options.retryTimesWhenSendFailed ?? RETRY_TIMES_WHEN_SEND_FAILED_DEFAULT;
    if (!Number.isInteger(retries) || retries < 0) throw new TypeError('retryTimesWhenSendFailed must be an integer >= 0');
    const producerId = options.idempotence === false ? null : (options.producerId ?? defaultProducerId());
    if (producerId !== null && (typeof producerId !== 'string' || !PRODUCER_ID_PATTERN.test(producerId))) {
      throw new TypeError(`producerId must match ${String(PRODUCER_ID_PATTERN)}`);
    }
    this.producerId = producerId;
    this.onGroupClient = options.onGroupClient;
    const { servers: _s, namesrv: _n, onGroupClient: _g, ...groupOptions } = options;
    if (options.servers !== undefined) {
      this.single = new ClusterClient({ ...groupOptions, servers: options.servers });
      this.namesrv = null;
      this.groups = null;
    } else {
      this.single = null;
      this.namesrv = new NamesrvClient({ namesrv: namesrv!, ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}) });
      this.groups = new BrokerGroups(this.namesrv, groupOptions);
      this.groups.onChange(() => this.routes.markStale());
      if (options.watchRoutes !== false) this.groups.watch();
    }
    this.sendTimeoutMs = options.sendTimeoutMs ?? SEND_TIMEOUT_MS_DEFAULT;
    this.tries = 1 + retries;
    this.tryTimeoutMs = options.requestTimeoutMs ?? Math.max(1, Math.ceil(this.sendTimeoutMs / this.tries));
    this.batchSends = options.batchSends ?? true;
    this.batchCountMax = Math.min(options.batchCountMax ?? SEND_BATCH_COUNT_MAX, SEND_BATCH_COUNT_MAX);
    this.batchBytesMax = options.batchBytesMax ?? BATCH_BYTES_MAX_DEFAULT;
    this.chooser = new QueueChooser(options.sendLatencyFaultEnable === true ? new LatencyFaultTolerance() : null);
    this.routes = new PublishRoutes((topic, deadline) => this.fetchRoute(topic, deadline), this.sendTimeoutMs, (route) => this.chooser.retain(route.groups));
  }

  /** Socket writes and requests so far (to observe coalescing); oneway sends that failed. */
  get stats(): { writes: number; requests: number; onewayFailures: number } {
    const s = this.single !== null ? this.single.stats() : this.groups!.stats();
    return { ...s, onewayFailures: this.onewayFailures };
  }

  /** Sends one message and resolves with where it was stored. Rejects with a RaftmqError (a
   *  TypeError for arguments of the wrong type). With a callback instead: returns nothing and
   *  calls it once with the error or the result (RocketMQ's async send). */
  send(topic: string, message: ProducerMessage, options?: SendOptions): Promise<SendResultItem>;
  send(topic: string, message: ProducerMessage, callback: SendCallback, options?: SendOptions): void;
  send(topic: string, message: ProducerMessage, a?: SendOptions | SendCallback, b?: SendOptions): Promise<SendResultItem> | void {
    if (typeof a === 'function') {
      this.sendPromise(topic, message, b).then(
        (r) => a(null, r),
        (e: unknown) => a(e instanceof Error ? e : new Error(String(e))),
      );
      return;
    }
    return this.sendPromise(topic, message, a);
  }

  /**
   * Sends without waiting for, or retrying after, the broker's answer (RocketMQ's sendOneway):
   * the fastest and LOSSY: a message whose one try fails is gone, and the caller is not told
   * (stats.onewayFailures counts them). Throws a TypeError for bad arguments.
   */
  sendOneway(topic: string, input: ProducerMessage, options?: Omit<SendOptions, 'timeoutMs'>): void {
    const message = withDelayProperty(input);
    if (message instanceof TypeError) throw message;
    const problem = this.checkSend(topic, message);
    if (problem !== null) {
      if (problem instanceof TypeError) throw problem;
      this.onewayFailures++;
      return;
    }
    const deadline = Date.now() + this.tryTimeoutMs;
    void this.routes.get(topic, deadline)
      .then((cached) => {
        const { mq } = this.chooser.choose(cached, message, options);
        return this.clientOf(mq.brokerName).callMaster<'send'>(
          { type: 'send', topic, queueId: mq.queueId, messages: [message] },
          { tries: 1, deadline, timeoutMs: this.tryTimeoutMs },
        );
      })
      .catch(() => {
        this.onewayFailures++;
      });
  }

  /** The topic's queue list as this producer sees it (for selectors and tools). */
  async queuesOf(topic: string): Promise<readonly MessageQueue[]> {
    return (await this.routes.get(topic, Date.now() + this.sendTimeoutMs)).route.queues;
  }

  /** Fails sends not yet answered with CONNECTION_LOST and closes every connection. */
  async close(): Promise<void> {
    this.closed = true;
    this.flushBatches();
    for (const q of this.queues.values()) {
      for (const b of q.waiting.splice(0)) rejectAll(b.sends, new RaftmqError('CONNECTION_LOST', 'producer is closed', { requestSent: false }));
    }
    await Promise.all([this.single?.close(), this.groups?.close(), this.namesrv?.close()]);
  }

  // ---- internals ----------------------------------------------------------------------

  private sendPromise(topic: string, input: ProducerMessage, options?: SendOptions): Promise<SendResultItem> {
    // Not an async function: with the topic's route cached (every send but the first few), a
    // send is one Promise and one record; an async function with an await costs several promises
    // and a suspended frame per send (`npm run bench:client` shows the difference).
    const message = withDelayProperty(input);
    if (message instanceof TypeError) return Promise.reject(message);
    const problem = this.checkSend(topic, message) ?? queueIdProblem(topic, options, this.single !== null ? TOPIC_QUEUE_COUNT_MAX : TOPIC_QUEUE_COUNT_MAX * BROKER_GROUPS_MAX);
    if (problem !== null) return Promise.reject(problem);
    const now = Date.now();
    const deadline = now + (options?.timeoutMs ?? this.sendTimeoutMs);
    // One group: a queue id needs no route (the broker checks it).
    if (this.single !== null && options?.queueId !== undefined) return this.enqueue(this.directQueue(topic, options.queueId), true, message, deadline);
    const cached = this.routes.cached(topic, now);
    if (cached !== undefined) {
      let choice: { mq: MessageQueue; pinned: boolean };
      try {
        choice = this.chooser.choose(cached, message, options);
      } catch (err) {
        return Promise.reject(err);
      }
      return this.enqueue(choice.mq, choice.pinned, message, deadline);
    }
    return this.routes.get(topic, deadline).then((fetched) => {
      const choice = this.chooser.choose(fetched, message, options);
      return this.enqueue(choice.mq, choice.pinned, message, deadline);
    });
  }

  /** Why these arguments cannot be sent (a TypeError or MESSAGE_TOO_LARGE), or null. */
  private checkSend(topic: string, message: MessageInput): Error | null {
    if (this.closed) return new RaftmqError('CONNECTION_LOST', 'producer is closed', { requestSent: false });
    if (typeof topic !== 'string' || topic.length === 0) return new TypeError('topic must be a non-empty string');
    if (!(message?.body instanceof Uint8Array)) return new TypeError('message.body must be a Uint8Array or Buffer');
    if (message.body.length > MESSAGE_BODY_BYTES_MAX) {
      return new RaftmqError('MESSAGE_TOO_LARGE', `message body of ${message.body.length} bytes exceeds ${MESSAGE_BODY_BYTES_MAX} bytes`);
    }
    return null;
  }

  /** One group's queue `queueId` of `topic`, the same object each time (batches are keyed by it). */
  private directQueue(topic: string, queueId: number): MessageQueue {
    let byId = this.directQueues.get(topic);
    if (byId === undefined) {
      byId = [];
      this.directQueues.set(topic, byId);
    }
    return (byId[queueId] ??= { topic, brokerName: '', queueId });
  }

  /** The topic's route from the one group's broker, or from a NameServer. */
  private fetchRoute(topic: string, deadline: number): Promise<PublishRoute> {
    if (this.single !== null) {
      return this.single.route(topic, { tries: this.tries, deadline, timeoutMs: this.tryTimeoutMs }, { refresh: true }).then((r) => publishRouteOfGroup(topic, r));
    }
    return this.namesrv!.topicRoute(topic).then((data) => {
      this.groups!.update(data.brokerDatas);
      return publishRouteOf(topic, data);
    });
  }

  private clientOf(brokerName: string): ClusterClient {
    const c = this.single ?? this.groups!.client(brokerName);
    if (c === undefined) throw new RaftmqError('NOT_MASTER', `no NameServer told of broker group ${brokerName}`, { requestSent: false });
    if (this.onGroupClient !== undefined && !this.announced.has(c)) {
      this.announced.add(c);
      this.onGroupClient(brokerName, c);
    }
    return c;
  }

  // ---- batching and dispatch -------------------------------------------------------------

  private enqueue(mq: MessageQueue, pinned: boolean, message: MessageInput, deadline: number): Promise<SendResultItem> {
    // One shared executor instead of a closure per send (one allocation less on every send).
    const promise = new Promise<SendResultItem>(captureResolvers);
    const pending: PendingSend = { message, resolve: capturedResolve, reject: capturedReject };
    try {
      // A delayed message goes alone: the broker stores a batch in one delay level's queue.
      if (!this.batchSends || message.properties?.[PROPERTY_DELAY_TIME_LEVEL] !== undefined) this.dispatch({ mq, sends: [pending], bytes: message.body.length, deadline, pinned, tries: this.tries, seq: -1 });
      else this.addToBatch(mq, pinned, pending, deadline);
    } catch (err) {
      pending.reject(err); // as a throwing executor would: send() never throws
    }
    return promise;
  }

  private addToBatch(mq: MessageQueue, pinned: boolean, pending: PendingSend, deadline: number): void {
    let batch = this.openBatches.get(mq);
    const bytes = pending.message.body.length;
    if (batch !== undefined && (batch.sends.length >= this.batchCountMax || batch.bytes + bytes > this.batchBytesMax)) {
      this.openBatches.delete(mq);
      this.dispatch(batch);
      batch = undefined;
    }
    if (batch === undefined) {
      batch = { mq, sends: [], bytes: 0, deadline, pinned, tries: this.tries, seq: -1 };
      this.openBatches.set(mq, batch);
    }
    batch.sends.push(pending);
    batch.bytes += bytes;
    if (pinned) batch.pinned = true;
    if (deadline < batch.deadline) batch.deadline = deadline;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flushBatches());
    }
  }

  private flushBatches(): void {
    this.flushScheduled = false;
    const open = this.openBatches;
    // A new Map, not clear(): V8's clear() leaves the old table pointing at the new one, and
    // once one table of that chain is in the old generation, every later table and the batches
    // in it (their sends, promises, results) survive young-generation GCs until a full one.
    this.openBatches = new Map();
    for (const batch of open.values()) this.dispatch(batch);
  }

  private queueState(mq: MessageQueue): QueueState {
    const key = `${mq.topic}\u0000${mq.brokerName}\u0000${mq.queueId}`;
    let q = this.queues.get(key);
    if (q === undefined) {
      // Numbers start from the clock, not 0: a producer restarted under the id it set itself must
      // not repeat numbers its previous run used (the group would answer them as duplicates). Safe
      // unless the previous run averaged over 1024 messages per millisecond to this queue.
      q = { nextSeq: Date.now() * SEQ_PER_MS, inFlight: 0, waiting: [] };
      this.queues.set(key, q);
    }
    return q;
  }

  /** Sends a batch, or parks it while its queue has IDEMPOTENCE_WINDOW_BATCHES in flight (with
   *  idempotence: the broker remembers that many per producer and queue). */
  private dispatch(batch: Batch): void {
    if (this.producerId === null) return this.sendBatch(batch, null);
    const q = this.queueState(batch.mq);
    if (q.inFlight >= IDEMPOTENCE_WINDOW_BATCHES) {
      q.waiting.push(batch);
      return;
    }
    this.sendBatch(batch, q);
  }

  private sendBatch(batch: Batch, q: QueueState | null): void {
    const { mq } = batch;
    if (q !== null) {
      batch.seq = q.nextSeq;
      q.nextSeq += batch.sends.length;
      q.inFlight++;
    }
    const messages = batch.sends.map((s) => s.message);
    const idempotent = this.producerId !== null;
    const frame = idempotent
      ? { type: 'send' as const, topic: mq.topic, queueId: mq.queueId, messages, producerId: this.producerId!, seq: batch.seq }
      : { type: 'send' as const, topic: mq.topic, queueId: mq.queueId, messages };
    const movable = !batch.pinned && this.single === null;
    const started = Date.now();
    let client: ClusterClient;
    try {
      client = this.clientOf(mq.brokerName);
    } catch (err) {
      this.afterTry(q);
      this.failed(batch, err, started);
      return;
    }
    client
      .callMaster<'send'>(frame, {
        tries: batch.tries,
        deadline: batch.deadline,
        timeoutMs: this.tryTimeoutMs,
        followMasterChange: idempotent,
        // An unkeyed send moves to another group when this one certainly did not store it (or,
        // without idempotence, on any failure, as RocketMQ retries on another broker).
        // Any failed or stalled try steers new unkeyed sends away from the group at once, while
        // this batch, if it may have been stored, waits for the group's new master.
        giveUp: (err: unknown, anyUnknown: boolean) => {
          this.chooser.avoid(mq.brokerName);
          return movable && (idempotent ? !anyUnknown && outcomeOf(err) === 'not-stored' : true);
        },
        onStall: () => this.chooser.avoid(mq.brokerName),
      })
      .then(
        (resp) => {
          this.afterTry(q);
          this.chooser.succeeded(mq.brokerName, Date.now() - started);
          const n = batch.sends.length;
          const b = resp.batch;
          if (!isBatchResult(b) || b.count !== n) {
            rejectAll(batch.sends, new RaftmqError('INTERNAL', `broker answered a malformed batch result for ${n} messages: ${JSON.stringify(b)}`));
            return;
          }
          for (let i = 0; i < n; i++) batch.sends[i]!.resolve(sendResultOf(b, i));
        },
        (err: unknown) => {
          this.afterTry(q);
          this.failed(batch, err, started);
        },
      );
  }

  /** A batch's call ended: frees its slot and sends the next batch waiting for the queue. */
  private afterTry(q: QueueState | null): void {
    if (q === null) return;
    q.inFlight--;
    const next = q.waiting.shift();
    if (next !== undefined && !this.closed) this.sendBatch(next, q);
    else if (next !== undefined) rejectAll(next.sends, new RaftmqError('CONNECTION_LOST', 'producer is closed', { requestSent: false }));
  }

  /** A batch's call failed: moves an unkeyed batch that was certainly not stored (or any, without
   *  idempotence) to a queue of another group while tries and time are left; else fails it. */
  private failed(batch: Batch, err: unknown, started: number): void {
    const group = batch.mq.brokerName;
    const now = Date.now();
    const notStored = outcomeOf(err) === 'not-stored';
    this.chooser.failed(group, now - started, notStored);
    const movable = !batch.pinned && this.single === null && !this.closed;
    const safe = this.producerId === null || notStored;
    if (movable && safe && batch.tries > 1 && now < batch.deadline && err instanceof RaftmqError && isMoveWorthy(err)) {
      const cached = this.routes.cached(batch.mq.topic, now);
      if (cached !== undefined && cached.route.groups.size > 1) {
        const mq = this.chooser.next(cached, group);
        if (mq.brokerName !== group) {
          this.dispatch({ mq, sends: batch.sends, bytes: batch.bytes, deadline: batch.deadline, pinned: false, tries: batch.tries - 1, seq: -1 });
          return;
        }
      }
    }
    // Keep the cached route (NameServers may be down); refresh it soon in the background.
    this.routes.markStale(batch.mq.topic);
    rejectAll(batch.sends, err);
  }
}

/** A queueId no topic can have: refused before any request. */
function queueIdProblem(topic: string, options: SendOptions | undefined, max: number): Error | null {
  const q = options?.queueId;
  if (q === undefined) return null;
  if (!Number.isInteger(q) || q < 0) return new TypeError(`bad queueId ${q}`);
  if (q >= max) return new RaftmqError('BAD_REQUEST', `topic ${topic} has no queue ${q}: topics have at most ${TOPIC_QUEUE_COUNT_MAX} queues per group`);
  return null;
}

/** Failures another group may not share: not the message's own fault (too large, bad). */
function isMoveWorthy(err: RaftmqError): boolean {
  return err.code !== 'MESSAGE_TOO_LARGE' && err.code !== 'BAD_REQUEST';
}

/** host@pid@random: unique among live producers, readable in logs. */
function defaultProducerId(): string {
  const host = hostname().replace(/[^a-zA-Z0-9_.-]/g, '_').slice(0, 32) || 'host';
  return `${host}@${process.pid}@${randomBytes(8).toString('hex')}`;
}

// Set by captureResolvers, read right after the `new Promise` that called it (synchronously).
let capturedResolve: (r: SendResultItem) => void = () => {};
let capturedReject: (e: unknown) => void = () => {};

function captureResolvers(resolve: (r: SendResultItem) => void, reject: (e: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

function rejectAll(sends: readonly PendingSend[], err: unknown): void {
  for (const s of sends) s.reject(err);
}

function isBatchResult(b: SendBatchResult): boolean {
  return (
    b !== null &&
    typeof b === 'object' &&
    typeof b.msgIdHead === 'string' &&
    Number.isSafeInteger(b.queueId) &&
    Number.isSafeInteger(b.firstOffset) &&
    Number.isSafeInteger(b.logIndex) &&
    Number.isSafeInteger(b.count)
  );
}

/** The message as the broker takes it: delayTimeLevel as property DELAY (a TypeError for a level
 *  that is not an integer in 0..DELAY_TIME_LEVEL_MAX). */
function withDelayProperty(m: ProducerMessage): MessageInput | TypeError {
  if (m?.delayTimeLevel === undefined) return m;
  const { delayTimeLevel: level, ...rest } = m;
  if (!Number.isInteger(level) || level < 0 || level > DELAY_TIME_LEVEL_MAX) return new TypeError(`delayTimeLevel must be an integer in 0..${DELAY_TIME_LEVEL_MAX}, got ${String(level)}`);
  if (level === 0) return rest;
  return { ...rest, properties: { ...(rest.properties ?? {}), [PROPERTY_DELAY_TIME_LEVEL]: String(level) } };
}
