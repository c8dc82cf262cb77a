// The load of a chaos run: producer clients sending messages with unique ids through the raftmq
// Producer (its normal retries), and consumers reading every queue back. Every operation goes to
// the history (recorder.ts). The clients reach one group by its replicas' addresses, or, when
// the run has NameServers, every group through them (acks and receives then name their group).
//
// Idempotence (the Producer's default, `idempotence: false` for the old at-least-once runs): a
// retry repeats the producer id and sequence numbers, and the broker answers it from its window
// instead of storing it again; the checker then counts any duplicate as a finding.
//
// Producers: each has `workers` send loops, paced so the whole run sends about `ratePerSec`
// messages a second (moderate: two cores must also run 5 replicas). Even-numbered loops send
// with a key of their own, one message at a time, so per-key order is meaningful: a message of
// a key is sent only after the previous one of that key was answered. Odd loops send without a
// key (round robin over queues).
//
// Attempts: the client retries inside send() (a try that lost its connection after the request
// left may have stored the message; without idempotence the retry stores it again). So that the
// history shows those tries, the workload watches each request the producer's group clients
// make (a test-only wrapper around their request method, installed as the producer hands each
// client out) and records every try as an attempt of
// the message id: 'invoke' (the first at the send() call, later ones when a retry goes out),
// then 'ok', 'fail' (certainly not stored: the request never left, the broker refused the
// message as invalid, or said NOT_MASTER / NO_QUORUM / OVERLOADED, which the broker only says
// when the entry was never proposed or lost its slot to a newer term's entry) or 'unknown'
// (timeout, lost connection, shutting down: it may still commit). A send() that fails before any
// request left ends its attempt with 'fail'. Counting those codes as 'fail' lets the checker's
// failedButStored finding test the broker's claim. An idempotent producer that learns of a new
// master sends the batch there before the request to the old one has answered: requests of one
// attempt overlap, and the attempt ends at the first 'ok', or once none is in flight (then
// 'unknown' if any answered so, else 'fail').
//
// Consumers: one pull loop per queue of every group from offset 0, offsets kept in memory (no
// offset commits, so a consumer never re-reads and every receive event is one delivery).
import {
  sendResultOf,
  type MessageInput,
  type SendBatchResult,
  type SendResultItem,
  type StoredMessage,
  outcomeOf,
  RaftmqError,
} from '../protocol/index.ts';
import { PullConsumer, type ClusterClient, Producer } from '../client/index.ts';
import { delay } from '../net/index.ts';
import type { HistoryRecorder } from './recorder.ts';

/** Padding so a message is a realistic size without loading two cores with bytes. */
const BODY_BYTES = 64;
const PULL_COUNT = 256;
const PULL_WAIT_MS = 500;
const ERROR_PAUSE_MS = 50;
/** Answers that mean "not stored" (see replica.ts and server.ts for why each one is definite). */
const ID_PATTERN = /^p\d+-\d+$/;

/** The workload's message id inside a stored body ('' if the body is not the workload's). */
export function idOfBody(body: Uint8Array): string {
  const text = Buffer.from(body.buffer, body.byteOffset, Math.min(body.length, 40)).toString('latin1');
  const space = text.indexOf(' ');
  const id = space < 0 ? text : text.slice(0, space);
  return ID_PATTERN.test(id) ? id : '';
}

export function bodyOf(id: string): Buffer {
  return Buffer.from(`${id} `.padEnd(BODY_BYTES, '.'), 'latin1');
}

interface OpenAttempt {
  readonly base: { readonly op: 'send'; readonly client: string; readonly id: string; readonly topic: string; readonly key?: string };
  /** An invoke was recorded and its outcome not yet. */
  open: boolean;
  invokeT: number;
  /** Requests of the open attempt not answered yet. */
  inFlight: number;
  /** The worst failure among its answered requests ('unknown' beats 'fail'), null for none. */
  failure: { readonly type: 'fail' | 'unknown'; readonly err: unknown } | null;
}

export interface WorkloadOptions {
  /** One group's replicas (the clients address them directly)... */
  readonly servers?: readonly string[];
  /** ...or the NameServers (the clients route over every group). */
  readonly namesrv?: readonly string[];
  /** The broker groups (brokerNames) holding the topic; with several, events name their group. */
  readonly groups: readonly string[];
  /** Idempotent producers (the Producer's default). */
  readonly idempotence: boolean;
  readonly topic: string;
  readonly producers: number;
  /** Send loops per producer. */
  readonly workers: number;
  /** Messages per second for the whole workload. */
  readonly ratePerSec: number;
  readonly consumers: number;
  /** Queues of the topic in each group. */
  readonly queues: number;
  readonly recorder: HistoryRecorder;
  /** Told of every acknowledged id (the push consumers' drain waits for them). */
  readonly onAcked?: (id: string) => void;
}

/** One queue a consumer reads: its group ('' when the clients address one group directly). */
interface QueueRef {
  readonly brokerName: string;
  readonly queueId: number;
  /** refKey's answer. */
  readonly key: string;
}

function refKey(brokerName: string, queueId: number): string {
  return `${brokerName}\u0000${queueId}`;
}

export class Workload {
  private stopped = false;
  private producerLoops: Promise<void>[] = [];
  private consumerLoops: Promise<void>[] = [];
  private readonly producers: Producer[] = [];
  private readonly consumers: PullConsumer[] = [];
  /** Sends in flight by id (bounded by producers x workers). */
  private readonly attempts = new Map<string, OpenAttempt>();
  private consumersStopped = false;
  /** Every queue of every group. */
  private readonly refs: QueueRef[];
  /** Highest acknowledged queue offset + 1, per queue: what consumers must reach at the end. */
  private readonly ackedEnd = new Map<string, number>();
  /** Next offset each consumer will read, per queue. */
  private readonly consumerNext: Map<string, number>[];
  /** Events name their group (the run has several). */
  private readonly named: boolean;
  acked = 0;
  failed = 0;
  unknown = 0;
  received = 0;

  constructor(private readonly opts: WorkloadOptions) {
    if ((opts.servers === undefined) === (opts.namesrv === undefined)) throw new TypeError('the workload needs servers or namesrv, not both');
    const brokerNames = opts.namesrv !== undefined ? opts.groups : [''];
    this.refs = brokerNames.flatMap((brokerName) => Array.from({ length: opts.queues }, (_, queueId) => ({ brokerName, queueId, key: refKey(brokerName, queueId) })));
    this.consumerNext = Array.from({ length: opts.consumers }, () => new Map(this.refs.map((r) => [r.key, 0])));
    this.named = opts.groups.length > 1;
  }

  /** Where the clients connect. */
  private get target(): { servers: readonly string[] } | { namesrv: readonly string[] } {
    return this.opts.namesrv !== undefined ? { namesrv: this.opts.namesrv } : { servers: this.opts.servers! };
  }

  start(): void {
    const intervalMs = (1000 * this.opts.producers * this.opts.workers) / this.opts.ratePerSec;
    for (let p = 0; p < this.opts.producers; p++) {
      // Every try of the producer's requests is recorded as attempts of the ids it carries.
      const producer = new Producer({
        ...this.target,
        sendTimeoutMs: 3000,
        retryTimesWhenSendFailed: 2,
        idempotence: this.opts.idempotence,
        onGroupClient: (brokerName, cluster) => this.watchClient(cluster, this.named && brokerName !== '' ? brokerName : undefined),
      });
      this.producers.push(producer);
      const client = `p${p}`;
      const seq = { next: 0 };
      for (let w = 0; w < this.opts.workers; w++) {
        const key = w % 2 === 0 ? `${client}-k${w}` : undefined;
        // Stagger the loops so sends spread over the interval.
        const offsetMs = (intervalMs * (p * this.opts.workers + w)) / (this.opts.producers * this.opts.workers);
        this.producerLoops.push(this.sendLoop(producer, client, seq, key, intervalMs, offsetMs));
      }
    }
    for (let c = 0; c < this.opts.consumers; c++) {
      const consumer = new PullConsumer({ ...this.target, group: `chaos-c${c}`, readFrom: 'any', requestTimeoutMs: 1000 });
      this.consumers.push(consumer);
      for (const ref of this.refs) this.consumerLoops.push(this.pullLoop(consumer, `c${c}`, c, ref));
    }
  }

  private async sendLoop(producer: Producer, client: string, seq: { next: number }, key: string | undefined, intervalMs: number, offsetMs: number): Promise<void> {
    const { recorder, topic } = this.opts;
    await delay(offsetMs);
    while (!this.stopped) {
      const started = Date.now();
      const id = `${client}-${String(seq.next++).padStart(6, '0')}`;
      const attempt: OpenAttempt = { base: { op: 'send', client, id, topic, ...(key ? { key } : {}) }, open: true, invokeT: recorder.now(), inFlight: 0, failure: null };
      this.attempts.set(id, attempt);
      recorder.record({ ...attempt.base, type: 'invoke' });
      let pause = 0;
      try {
        await producer.send(topic, { body: bodyOf(id), ...(key ? { keys: key } : {}) });
        this.acked++;
      } catch (err) {
        // The tries were recorded as they ended; an attempt still open either sent no request at
        // all, or has one still unanswered (which may yet store the message).
        if (attempt.open) this.endAttempt(attempt, attempt.inFlight > 0 ? 'unknown' : 'fail', err);
        pause = ERROR_PAUSE_MS;
      } finally {
        this.attempts.delete(id);
      }
      await delay(Math.max(pause, intervalMs - (Date.now() - started)));
    }
  }

  private watchClient(cluster: ClusterClient, group: string | undefined): void {
    const request = cluster.request.bind(cluster) as (addr: string, frame: unknown, timeoutMs?: number) => Promise<unknown>;
    (cluster as unknown as { request: typeof request }).request = (addr, frame, timeoutMs) => {
      const f = frame as { type?: string; messages?: MessageInput[] };
      if (f.type !== 'send' || !Array.isArray(f.messages)) return request(addr, frame, timeoutMs);
      const tries = f.messages.map((m) => this.attempts.get(idOfBody(m.body)));
      for (const a of tries) {
        if (a === undefined) continue;
        if (!a.open) this.openAttempt(a);
        a.inFlight++;
      }
      const p = request(addr, frame, timeoutMs);
      p.then(
        (resp) => {
          const { batch } = resp as { batch: SendBatchResult };
          tries.forEach((a, i) => {
            if (a === undefined) return;
            a.inFlight--;
            this.endAttempt(a, 'ok', undefined, sendResultOf(batch, i), group);
          });
        },
        (err: unknown) => {
          const type = outcomeOf(err) === 'not-stored' ? 'fail' : 'unknown';
          for (const a of tries) if (a) this.requestFailed(a, type, err);
        },
      );
      return p;
    };
  }

  /** One request of the attempt failed: the attempt ends once none of its requests is in flight. */
  private requestFailed(a: OpenAttempt, type: 'fail' | 'unknown', err: unknown): void {
    a.inFlight--;
    if (!a.open) return;
    if (a.failure === null || type === 'unknown') a.failure = { type, err };
    if (a.inFlight <= 0) this.endAttempt(a, a.failure.type, a.failure.err);
  }

  private openAttempt(a: OpenAttempt): void {
    a.open = true;
    a.inFlight = 0;
    a.failure = null;
    a.invokeT = this.opts.recorder.now();
    this.opts.recorder.record({ ...a.base, type: 'invoke' });
  }

  private endAttempt(a: OpenAttempt, type: 'ok' | 'fail' | 'unknown', err?: unknown, result?: SendResultItem, group?: string): void {
    if (!a.open) return;
    a.open = false;
    const latencyMs = Math.round((this.opts.recorder.now() - a.invokeT) * 10) / 10;
    if (type === 'ok' && result) {
      this.opts.recorder.record({ ...a.base, type, ...(group !== undefined ? { group } : {}), queueId: result.queueId, queueOffset: result.queueOffset, latencyMs });
      this.opts.onAcked?.(a.base.id);
      const key = this.ackRefKey(group, result.queueId);
      if (key !== undefined) this.ackedEnd.set(key, Math.max(this.ackedEnd.get(key) ?? 0, result.queueOffset + 1));
      return;
    }
    if (type === 'fail') this.failed++;
    else this.unknown++;
    const code = err instanceof RaftmqError ? err.code : 'INTERNAL';
    this.opts.recorder.record({ ...a.base, type: type === 'ok' ? 'unknown' : type, latencyMs, error: `${code}: ${(err as Error | undefined)?.message ?? 'no result'}`.slice(0, 200) });
  }

  /** The consumers' queue an ack names (undefined: one the consumers do not read). */
  private ackRefKey(group: string | undefined, queueId: number): string | undefined {
    const brokerName = this.opts.namesrv === undefined ? '' : (group ?? this.opts.groups[0] ?? '');
    const key = refKey(brokerName, queueId);
    return this.consumerNext[0]?.has(key) === false ? undefined : key;
  }

  private async pullLoop(consumer: PullConsumer, client: string, c: number, ref: QueueRef): Promise<void> {
    const { topic } = this.opts;
    const where = ref.brokerName !== '' ? { brokerName: ref.brokerName } : {};
    let failures = 0;
    while (!this.consumersStopped) {
      const offset = this.consumerNext[c]!.get(ref.key)!;
      try {
        const resp = await consumer.pull(topic, ref.queueId, offset, { maxCount: PULL_COUNT, waitMs: PULL_WAIT_MS, ...where });
        failures = 0;
        for (const m of resp.messages) this.recordReceive(client, m, ref.brokerName);
        this.consumerNext[c]!.set(ref.key, Math.max(offset, resp.nextOffset));
      } catch {
        if (this.consumersStopped) return;
        await delay(Math.min(1000, 50 * 2 ** Math.min(failures++, 5)));
      }
    }
  }

  private recordReceive(client: string, m: StoredMessage, brokerName: string): void {
    this.received++;
    this.opts.recorder.record({
      op: 'receive',
      type: 'ok',
      client,
      id: idOfBody(m.body),
      ...(m.keys ? { key: m.keys } : {}),
      topic: m.topic,
      ...(this.named ? { group: m.brokerName ?? brokerName } : {}),
      queueId: m.queueId,
      queueOffset: m.queueOffset,
    });
  }

  /** Stops sending; resolves when every send in flight was answered. */
  async stopProducers(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.producerLoops);
    await Promise.all(this.producers.map((p) => p.close()));
  }

  /** Waits until every consumer read past every acknowledged offset (or the timeout). */
  async drainConsumers(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    const caughtUp = (): boolean => this.consumerNext.every((next) => [...this.ackedEnd].every(([key, end]) => (next.get(key) ?? 0) >= end));
    while (Date.now() < deadline && !caughtUp()) await delay(100);
    return caughtUp();
  }

  async stopConsumers(): Promise<void> {
    this.consumersStopped = true;
    await Promise.all(this.consumers.map((c) => c.close()));
    await Promise.all(this.consumerLoops);
  }
}
