// The producer: sync sends with RocketMQ's retry semantics, per-key queue affinity, round
// robin otherwise, and coalescing of concurrent sends into batched `send` requests.
//
// Delivery is at-least-once: a try that times out or loses its connection after the request
// left may have been stored, and the retry stores it again. Consumers must be idempotent
// (msgId differs between the copies; use your own keys to deduplicate).
//
// Ordering: messages with the same `keys` go to the same queue (FNV-1a hash of the keys string
// modulo the queue count; it changes if the topic's queue count changes). Sends awaited one
// after another keep their order; concurrent sends to one queue are stored in call order when
// they share a batch, but a retried batch can land after a later one.
import {
  MESSAGE_BODY_BYTES_MAX,
  SEND_BATCH_COUNT_MAX,
  sendResultOf,
  type MessageInput,
  type SendBatchResult,
  type SendResultItem,
  TOPIC_QUEUE_COUNT_MAX,
  RaftmqError,
} from '../protocol/index.ts';
import { ClusterClient, type ClusterOptions } from './cluster.ts';

export const SEND_TIMEOUT_MS_DEFAULT = 3000;
export const RETRY_TIMES_WHEN_SEND_FAILED_DEFAULT = 2;
/** Default of ProducerOptions.batchBytesMax: bytes of message bodies in one coalesced send request
 *  (a larger message goes alone). Half the wire's SEND_BATCH_BYTES_MAX, which counts keys, tags and
 *  properties too, leaving room for them. */
export const BATCH_BYTES_MAX_DEFAULT = 4 * 1024 * 1024;

export interface ProducerOptions extends ClusterOptions {
  /** Overall deadline of one send, retries included. Each try gets `requestTimeoutMs` if set,
   *  else an equal share: sendTimeoutMs / (1 + retryTimesWhenSendFailed). */
  readonly sendTimeoutMs?: number;
  /** Retries after the first try (RocketMQ's default 2: 3 tries in total). */
  readonly retryTimesWhenSendFailed?: number;
  /** Coalesce sends to one topic+queue made in the same event-loop turn into one request
   *  (default true). Each caller still gets its own result or error. */
  readonly batchSends?: boolean;
  readonly batchCountMax?: number;
  readonly batchBytesMax?: number;
}

export interface SendOptions {
  /** Send to this queue; otherwise by key hash when `keys` is set, else round robin. */
  readonly queueId?: number;
  /** Overrides sendTimeoutMs for this call. */
  readonly timeoutMs?: number;
}

interface PendingSend {
  readonly message: MessageInput;
  readonly resolve: (r: SendResultItem) => void;
  readonly reject: (e: unknown) => void;
}

interface Batch {
  readonly topic: string;
  readonly queueId: number;
  readonly sends: PendingSend[];
  bytes: number;
  deadline: number;
}

export class Producer {
  private readonly cluster: ClusterClient;
  private readonly sendTimeoutMs: number;
  private readonly tries: number;
  private readonly tryTimeoutMs: number;
  private readonly batchSends: boolean;
  private readonly batchCountMax: number;
  private readonly batchBytesMax: number;
  private readonly roundRobin = new Map<string, number>();
  /** Open batches by topic, then by queue id. Keyed by the caller's topic string, not a
   *  `${queueId}/${topic}` key: building and hashing a fresh string per send cost more than the
   *  rest of addToBatch (the caller's string caches its hash). */
  private openBatches = new Map<string, (Batch | undefined)[]>();
  private flushScheduled = false;
  private closed = false;

  constructor(options: ProducerOptions) {
    this.cluster = new ClusterClient(options);
    this.sendTimeoutMs = options.sendTimeoutMs ?? SEND_TIMEOUT_MS_DEFAULT;
    const retries = options.retryTimesWhenSendFailed ?? RETRY_TIMES_WHEN_SEND_FAILED_DEFAULT;
    if (!Number.isInteger(retries) || retries < 0) throw new TypeError('retryTimesWhenSendFailed must be an integer >= 0');
    this.tries = 1 + retries;
    this.tryTimeoutMs = options.requestTimeoutMs ?? Math.max(1, Math.ceil(this.sendTimeoutMs / this.tries));
    this.batchSends = options.batchSends ?? true;
    this.batchCountMax = Math.min(options.batchCountMax ?? SEND_BATCH_COUNT_MAX, SEND_BATCH_COUNT_MAX);
    this.batchBytesMax = options.batchBytesMax ?? BATCH_BYTES_MAX_DEFAULT;
  }

  /** Socket writes and requests so far (to observe coalescing). */
  get stats(): { writes: number; requests: number } {
    return this.cluster.stats();
  }

  /** Sends one message and resolves with where it was stored. Rejects with a RaftmqError (a
   *  TypeError for arguments of the wrong type). */
  send(topic: string, message: MessageInput, options?: SendOptions): Promise<SendResultItem> {
    // Not an async function: with the topic's route cached (every send but the first few), a
    // send is one Promise and one record; an async function with an await costs several promises
    // and a suspended frame per send (`npm run bench:client` shows the difference).
    const problem = this.checkSend(topic, message);
    if (problem !== null) return Promise.reject(problem);
    const now = Date.now();
    const deadline = now + (options?.timeoutMs ?? this.sendTimeoutMs);
    if (options?.queueId !== undefined) return this.enqueue(topic, message, options.queueId, deadline);
    const route = this.cluster.cachedRoute(topic, now);
    if (route !== undefined) {
      let queueId: number;
      try {
        queueId = this.chooseQueue(topic, route, message);
      } catch (err) {
        return Promise.reject(err);
      }
      return this.enqueue(topic, message, queueId, deadline);
    }
    return this.cluster
      .route(topic, { tries: this.tries, deadline, timeoutMs: this.tryTimeoutMs })
      .then((fetched) => this.enqueue(topic, message, this.chooseQueue(topic, fetched, message), deadline));
  }

  /** Fails sends not yet answered with CONNECTION_LOST and closes every connection. */
  async close(): Promise<void> {
    this.closed = true;
    this.flushBatches();
    await this.cluster.close();
  }

  // ---- internals ----------------------------------------------------------------------

  /** Why these arguments cannot be sent (a TypeError or MESSAGE_TOO_LARGE), or null. */
  private checkSend(topic: string, message: MessageInput): Error | null {
    if (this.closed) return new RaftmqError('CONNECTION_LOST', 'producer is closed');
    if (typeof topic !== 'string' || topic.length === 0) return new TypeError('topic must be a non-empty string');
    if (!(message?.body instanceof Uint8Array)) return new TypeError('message.body must be a Uint8Array or Buffer');
    if (message.body.length > MESSAGE_BODY_BYTES_MAX) {
      return new RaftmqError('MESSAGE_TOO_LARGE', `message body of ${message.body.length} bytes exceeds ${MESSAGE_BODY_BYTES_MAX} bytes`);
    }
    return null;
  }

  /** By key hash when the message has keys, else round robin. Throws TOPIC_NOT_FOUND. */
  private chooseQueue(topic: string, route: { readonly queues: number }, message: MessageInput): number {
    if (!(route.queues > 0)) throw new RaftmqError('TOPIC_NOT_FOUND', `topic ${topic} has no queues`);
    if (message.keys) return keyHash(message.keys) % route.queues;
    const next = this.roundRobin.get(topic) ?? 0;
    this.roundRobin.set(topic, (next + 1) % route.queues);
    return next % route.queues;
  }

  private enqueue(topic: string, message: MessageInput, queueId: number, deadline: number): Promise<SendResultItem> {
    if (!Number.isInteger(queueId) || queueId < 0) return Promise.reject(new TypeError(`bad queueId ${queueId}`));
    if (queueId >= TOPIC_QUEUE_COUNT_MAX) {
      // No topic has this queue (and the open batches are indexed by queue id).
      return Promise.reject(new RaftmqError('BAD_REQUEST', `topic ${topic} has no queue ${queueId}: topics have at most ${TOPIC_QUEUE_COUNT_MAX} queues`));
    }
    // One shared executor instead of a closure per send (one allocation less on every send).
    const promise = new Promise<SendResultItem>(captureResolvers);
    const pending: PendingSend = { message, resolve: capturedResolve, reject: capturedReject };
    try {
      if (!this.batchSends) this.dispatch({ topic, queueId, sends: [pending], bytes: message.body.length, deadline });
      else this.addToBatch(topic, queueId, pending, deadline);
    } catch (err) {
      pending.reject(err); // as a throwing executor would: send() never throws
    }
    return promise;
  }

  private addToBatch(topic: string, queueId: number, pending: PendingSend, deadline: number): void {
    let byQueue = this.openBatches.get(topic);
    if (byQueue === undefined) {
      byQueue = [];
      this.openBatches.set(topic, byQueue);
    }
    let batch = byQueue[queueId];
    const bytes = pending.message.body.length;
    if (batch !== undefined && (batch.sends.length >= this.batchCountMax || batch.bytes + bytes > this.batchBytesMax)) {
      byQueue[queueId] = undefined;
      this.dispatch(batch);
      batch = undefined;
    }
    if (batch === undefined) {
      batch = { topic, queueId, sends: [], bytes: 0, deadline };
      byQueue[queueId] = batch;
    }
    batch.sends.push(pending);
    batch.bytes += bytes;
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
    // The per-topic arrays go with the old Map.
    this.openBatches = new Map();
    for (const byQueue of open.values()) {
      for (const batch of byQueue) if (batch !== undefined) this.dispatch(batch);
    }
  }

  private dispatch(batch: Batch): void {
    const messages = batch.sends.map((s) => s.message);
    this.cluster
      .callMaster<'send'>(
        { type: 'send', topic: batch.topic, queueId: batch.queueId, messages },
        { tries: this.tries, deadline: batch.deadline, timeoutMs: this.tryTimeoutMs },
      )
      .then(
        (resp) => {
          const n = batch.sends.length;
          const b = resp.batch;
          if (!isBatchResult(b) || b.count !== n) {
            rejectAll(batch.sends, new RaftmqError('INTERNAL', `broker answered a malformed batch result for ${n} messages: ${JSON.stringify(b)}`));
            return;
          }
          for (let i = 0; i < n; i++) batch.sends[i]!.resolve(sendResultOf(b, i));
        },
        (err: unknown) => {
          this.cluster.invalidateRoute(batch.topic);
          for (const s of batch.sends) s.reject(err);
        },
      );
  }
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

/** FNV-1a (32-bit) of the UTF-16 code units: stable across processes and versions. */
export function keyHash(keys: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < keys.length; i++) {
    h ^= keys.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
