// The pull consumer: explicit pulls from any replica, offsets kept by the broker per group,
// and an async iterator over every queue of a topic that long-polls and commits offsets.
//
// At-least-once: the iterator treats a message as processed when the caller asks for the next
// one. The message in hand when the loop is left (break, throw, return) is not committed and
// comes again to the next iterator of the group. Processed offsets are committed every
// commitIntervalMs and when the iteration ends. A crash replays what came after the last commit.
//
// Where the iterator starts in each queue (MessagesOptions): at the group's committed offset;
// where the group has none, where `from` says (RocketMQ's ConsumeFromWhere); with
// `fromBeginning`, at offset 0 whatever the group committed, as a replay that commits nothing.
// Moving a group's committed offsets is an explicit admin call (Admin.resetOffsetByTime).
import { PERM_READ, PULL_COUNT_MAX, PULL_WAIT_MS_MAX, type ReadConsistency, type StoredMessage, RaftmqError, isRetryable } from '../protocol/index.ts';
import { backoffMs, delay } from '../net/index.ts';
import { BrokerGroups } from './broker-groups.ts';
import { ClusterClient, consistencyOf, type ClusterOptions } from './cluster.ts';
import { NamesrvClient, namesrvAddrFromEnv } from './namesrv-client.ts';
import type { PullResponse } from './types.ts';

/** One queue a consumer reads: its broker group ('' for a consumer given one group's servers)
 *  and queue id there. */
export interface ConsumeQueueRef {
  readonly brokerName: string;
  readonly queueId: number;
}

/** Which group a call addresses (a consumer routed by NameServers reads several). */
export interface GroupOption {
  /** The queue's broker group (brokerName); needed with `namesrv` when the topic spans groups. */
  readonly brokerName?: string;
}

export type ReadFrom = 'master' | 'slave' | 'any';

export const PULL_COUNT_DEFAULT = 32;
export const PULL_BYTES_DEFAULT = 4 * 1024 * 1024;
/** Long-poll wait of the iterator's pulls. */
export const ITERATOR_WAIT_MS_DEFAULT = 1000;
export const COMMIT_INTERVAL_MS_DEFAULT = 5000;
/** Messages the iterator holds before its pullers wait for the caller. */
const ITERATOR_BUFFER_COUNT_MAX = 4096;
/** Retries of one pull over the replicas before giving up. */
const PULL_TRIES = 3;

export interface PullConsumerOptions extends Omit<ClusterOptions, 'servers'> {
  /** Client addresses of one group's replicas (any subset). */
  readonly servers?: readonly string[];
  /** NameServer addresses: read the topic's queues on every group. Default: NAMESRV_ADDR when
   *  `servers` is not given. */
  readonly namesrv?: readonly string[];
  /** Consumer group whose offsets are committed and queried. */
  readonly group: string;
  /** Where pulls go: the master, a slave (falling back to the master), or any replica (default). */
  readonly readFrom?: ReadFrom;
  /** The consistency of every pull and offset query (the iterator's too) unless a call says
   *  otherwise: ReadOptions. Default 'committed'. */
  readonly consistency?: ReadConsistency;
}

/** How current a read must be. */
export interface ReadOptions {
  /**
   * 'committed' (the default): what the replica asked has applied; cheap, and possibly stale (a
   * slave may be behind; a master cut off from its group may not know it was replaced).
   * 'linearizable': the read reflects every write acknowledged before it began. It costs the
   * master one heartbeat round to a quorum to confirm it still leads (Raft's ReadIndex), and a
   * slave asked also one request to the master and a wait until it has applied that far. Fails
   * with NO_QUORUM or TIMEOUT (retried over the replicas) when no quorum confirms a master.
   */
  readonly consistency?: ReadConsistency;
}

export interface PullOptions extends ReadOptions, GroupOption {
  readonly maxCount?: number;
  readonly maxBytes?: number;
  /** Long poll: how long the broker may wait for a message at `offset` (0: answer at once). */
  readonly waitMs?: number;
}

/** Where a queue the group has no committed offset for starts (RocketMQ's ConsumeFromWhere). */
export type ConsumeFrom = 'first' | 'last' | { readonly timestamp: number };

export interface MessagesOptions {
  /**
   * A replay: read every queue from offset 0, ignoring the group's committed offsets, and commit
   * nothing (the group's offsets stay as they were). Excludes `from`.
   */
  readonly fromBeginning?: boolean;
  /**
   * Where a queue the group has no committed offset for starts, as RocketMQ's ConsumeFromWhere:
   * 'first' (CONSUME_FROM_FIRST_OFFSET: the oldest message), 'last' (CONSUME_FROM_LAST_OFFSET,
   * the default: only messages stored from now on), or { timestamp } (CONSUME_FROM_TIMESTAMP:
   * the first message stored at or after it, ms since the epoch). The start is committed with
   * the group's next commit, so it is decided once per group and queue. Queues with a committed
   * offset resume there, whatever `from` says.
   */
  readonly from?: ConsumeFrom;
  /** End the iteration after this long without a message (default: never). */
  readonly idleTimeoutMs?: number;
  readonly maxCount?: number;
  readonly waitMs?: number;
  readonly commitIntervalMs?: number;
}

export class PullConsumer {
  readonly group: string;
  /** One group's client (servers) or null. */
  private readonly single: ClusterClient | null;
  private readonly namesrv: NamesrvClient | null;
  private readonly groups: BrokerGroups | null;
  private readonly requestTimeoutMs: number;
  private readonly readFrom: ReadFrom;
  private readonly consistency: ReadConsistency;
  private readonly stopHooks = new Set<() => Promise<void>>();
  private closed = false;

  constructor(options: PullConsumerOptions) {
    if (typeof options.group !== 'string' || options.group.length === 0) throw new TypeError('group must be a non-empty string');
    this.group = options.group;
    this.readFrom = options.readFrom ?? 'any';
    consistencyOf(options); // a TypeError for a bad value, here rather than at the first pull
    this.consistency = options.consistency ?? 'committed';
    const namesrv = options.namesrv ?? (options.servers === undefined ? namesrvAddrFromEnv() : null);
    if (options.servers !== undefined && options.namesrv !== undefined) throw new TypeError('give servers or namesrv, not both');
    if (options.servers === undefined && (namesrv === null || namesrv.length === 0)) {
      throw new TypeError('servers (one group) or namesrv (a cluster; or NAMESRV_ADDR) must list at least one host:port');
    }
    const { servers: _s, namesrv: _n, group: _g, readFrom: _r, consistency: _c, ...groupOptions } = options;
    if (options.servers !== undefined) {
      this.single = new ClusterClient({ ...groupOptions, servers: options.servers });
      this.namesrv = null;
      this.groups = null;
      this.requestTimeoutMs = this.single.requestTimeoutMs;
    } else {
      this.single = null;
      this.namesrv = new NamesrvClient({ namesrv: namesrv!, ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}) });
      this.groups = new BrokerGroups(this.namesrv, groupOptions);
      this.groups.watch();
      this.requestTimeoutMs = options.requestTimeoutMs ?? 3000;
    }
  }

  /** The client of a queue's group. */
  private clientOf(brokerName: string | undefined): ClusterClient {
    if (this.single !== null) return this.single;
    if (brokerName === undefined) {
      const names = this.groups!.names();
      if (names.length === 1) return this.groups!.client(names[0]!)!;
      throw new TypeError('brokerName is needed: this consumer reads through NameServers and the call names no group');
    }
    const c = this.groups!.client(brokerName);
    if (c === undefined) throw new RaftmqError('NOT_MASTER', `no NameServer told of broker group ${brokerName}`, { requestSent: false });
    return c;
  }

  /** Pulls up to maxCount committed messages of one queue from `offset` (`consistency`:
   *  ReadOptions; default the consumer's). */
  async pull(topic: string, queueId: number, offset: number, options: PullOptions = {}): Promise<PullResponse> {
    const waitMs = Math.min(Math.max(0, options.waitMs ?? 0), PULL_WAIT_MS_MAX);
    const frame = {
      type: 'pull' as const,
      topic,
      queueId,
      offset,
      maxCount: Math.min(options.maxCount ?? PULL_COUNT_DEFAULT, PULL_COUNT_MAX),
      maxBytes: options.maxBytes ?? PULL_BYTES_DEFAULT,
      waitMs,
      ...consistencyOf({ consistency: options.consistency ?? this.consistency }),
    };
    const timeoutMs = waitMs + this.requestTimeoutMs;
    const deadline = Date.now() + timeoutMs * PULL_TRIES;
    const cluster = this.clientOf(options.brokerName);
    if (this.readFrom === 'master') {
      return cluster.callMaster<'pull'>(frame, { tries: PULL_TRIES, deadline, timeoutMs });
    }
    return cluster.callAny<'pull'>(frame, { tries: PULL_TRIES, deadline, timeoutMs, prefer: this.preferred(cluster) });
  }

  /** Stores the group's next offset for a queue (on the master, following NOT_MASTER). */
  async commitOffset(topic: string, queueId: number, offset: number, where: GroupOption = {}): Promise<void> {
    await this.clientOf(where.brokerName).callMaster<'commitOffset'>(
      { type: 'commitOffset', group: this.group, topic, queueId, offset },
      { tries: 3, deadline: Date.now() + this.requestTimeoutMs * 2 },
    );
  }

  /** The group's committed offset for a queue; negative when none was committed. From the
   *  master; `consistency` (ReadOptions; default the consumer's): 'linearizable' also rules out
   *  the answer of a master that was replaced without knowing it. */
  async queryOffset(topic: string, queueId: number, options: ReadOptions & GroupOption = {}): Promise<number> {
    const consistency = consistencyOf({ consistency: options.consistency ?? this.consistency });
    const resp = await this.clientOf(options.brokerName).callMaster<'queryOffset'>(
      { type: 'queryOffset', group: this.group, topic, queueId, ...consistency },
      { tries: 3, deadline: Date.now() + this.requestTimeoutMs * 2 },
    );
    return resp.offset;
  }

  /** RocketMQ's searchOffset: the offset of the queue's first message stored at or after
   *  `timestamp` (ms since the epoch), or the queue's max offset when every message is older.
   *  Asked of the master, which holds every committed message. */
  async searchOffset(topic: string, queueId: number, timestamp: number, where: GroupOption = {}): Promise<number> {
    const resp = await this.clientOf(where.brokerName).callMaster<'searchOffset'>(
      { type: 'searchOffset', topic, queueId, timestamp },
      { tries: 3, deadline: Date.now() + this.requestTimeoutMs * 2 },
    );
    return resp.offset;
  }

  /**
   * Every message of every queue of `topic`, long-polling for more, from where the options say
   * (MessagesOptions). Ends when the caller breaks out, after `idleTimeoutMs` without a message,
   * or at close(); commits on the way out (except a replay, `fromBeginning`). The first pull of
   * each queue is handed over in queue order, so stored messages come in the same order every
   * time. TOPIC_NOT_FOUND when the topic does not exist; TypeError for bad options.
   */
  async *messages(topic: string, options: MessagesOptions = {}): AsyncGenerator<StoredMessage, void, undefined> {
    if (this.closed) throw new RaftmqError('CONNECTION_LOST', 'consumer is closed');
    const replay = options.fromBeginning === true;
    if (replay && options.from !== undefined) {
      throw new TypeError('fromBeginning and from exclude each other: fromBeginning ignores committed offsets, from applies only where there is none');
    }
    const from = options.from ?? 'last';
    if (from !== 'first' && from !== 'last' && !(typeof from === 'object' && from !== null && Number.isSafeInteger(from.timestamp) && from.timestamp >= 0)) {
      throw new TypeError(`from must be 'first', 'last' or { timestamp: ms since the epoch }, got ${JSON.stringify(from)}`);
    }
    const refs = await this.queuesOf(topic);
    const queues = refs.length;
    const maxCount = options.maxCount ?? PULL_COUNT_DEFAULT;
    const waitMs = options.waitMs ?? ITERATOR_WAIT_MS_DEFAULT;
    const commitIntervalMs = options.commitIntervalMs ?? COMMIT_INTERVAL_MS_DEFAULT;
    const channel = new Channel<StoredMessage>(ITERATOR_BUFFER_COUNT_MAX);
    /** Next offset to commit per queue (processed messages + 1), and what was committed; by
     *  index in `refs`. */
    const processed = new Map<number, number>();
    const committed = new Map<number, number>();
    const indexOf = new Map<string, number>(refs.map((r, i) => [`${r.brokerName}\u0000${r.queueId}`, i]));
    let stopped = false;

    const commitAll = async () => {
      if (replay) return;
      for (const [i, offset] of processed) {
        if (committed.get(i) === offset) continue;
        const ref = refs[i]!;
        try {
          await this.commitOffset(topic, ref.queueId, offset, ref);
          committed.set(i, offset);
        } catch {
          // kept in `processed`; the next round retries (at-least-once)
        }
      }
    };

    const startOffset = async (i: number): Promise<number> => {
      if (replay) return 0;
      const ref = refs[i]!;
      const stored = await this.queryOffset(topic, ref.queueId, ref);
      if (stored >= 0) return stored;
      let start: number;
      if (from === 'first') start = 0;
      // A pull past the end answers the queue's bounds and no message.
      else if (from === 'last') start = (await this.pull(topic, ref.queueId, Number.MAX_SAFE_INTEGER, { maxCount: 1, waitMs: 0, brokerName: ref.brokerName })).maxOffset;
      else start = await this.searchOffset(topic, ref.queueId, from.timestamp, ref);
      // Committed with the next round, so the group's start in this queue is decided once.
      if (!processed.has(i)) processed.set(i, start);
      return start;
    };

    // Queue q hands over its first pull's messages only after queue q - 1 did (or failed).
    const firstTurns = Array.from({ length: queues }, () => deferred());
    const endTurnsAll = () => {
      for (const turn of firstTurns) turn.resolve();
    };

    const puller = async (queueId: number) => {
      // `queueId` here is the index in `refs`.
      const ref = refs[queueId]!;
      let offset = -1;
      let failures = 0;
      let firstTurn = true;
      const previousTurn = queueId === 0 ? Promise.resolve() : firstTurns[queueId - 1]!.promise;
      const endFirstTurn = () => {
        if (!firstTurn) return;
        firstTurn = false;
        void previousTurn.then(() => firstTurns[queueId]!.resolve());
      };
      while (!stopped) {
        try {
          if (offset < 0) offset = await startOffset(queueId);
          // The first pull answers at once: the queues after this one wait for its hand-over.
          const resp = await this.pull(topic, ref.queueId, offset, { maxCount, waitMs: firstTurn ? 0 : waitMs, brokerName: ref.brokerName });
          if (this.single === null) for (const m of resp.messages) (m as { brokerName?: string }).brokerName = ref.brokerName;
          failures = 0;
          if (firstTurn) await previousTurn;
          if (stopped) return;
          const handedOver = resp.messages.length > 0 ? channel.put(resp.messages) : undefined;
          endFirstTurn();
          await handedOver;
          offset = resp.nextOffset;
        } catch (err) {
          endFirstTurn(); // a failing queue does not hold up the others
          if (stopped || this.closed) return;
          if (!isRetryable(err) && !(err instanceof RaftmqError && err.code === 'TOPIC_NOT_FOUND')) {
            channel.fail(err);
            return;
          }
          await delay(backoffMs(failures++, 50, 2000));
        }
      }
    };

    const stop = async () => {
      if (stopped) return;
      stopped = true;
      endTurnsAll();
      channel.close();
    };
    const stopAndCommit = async () => {
      await stop();
      await commitAll();
    };
    this.stopHooks.add(stopAndCommit);
    for (let q = 0; q < queues; q++) void puller(q);
    const commitTimer = replay ? undefined : setInterval(() => void commitAll(), commitIntervalMs);
    try {
      for (;;) {
        const msg = await channel.take(options.idleTimeoutMs);
        if (msg === undefined) return;
        yield msg;
        // The caller asked for the next one: this one is processed.
        const i = indexOf.get(`${msg.brokerName ?? ''}\u0000${msg.queueId}`)!;
        processed.set(i, Math.max(processed.get(i) ?? 0, msg.queueOffset + 1));
      }
    } finally {
      clearInterval(commitTimer);
      this.stopHooks.delete(stopAndCommit);
      await stop();
      if (!this.closed) await commitAll();
    }
  }

  /** Ends running iterators, commits what they processed, closes every connection. */
  async close(): Promise<void> {
    await Promise.all([...this.stopHooks].map((stop) => stop()));
    this.closed = true;
    await Promise.all([this.single?.close(), this.groups?.close(), this.namesrv?.close()]);
  }

  /** The queues of `topic` this consumer reads: one group's, or every group's a NameServer names
   *  (groups by brokerName, then queue id). TOPIC_NOT_FOUND when the topic does not exist. */
  async queuesOf(topic: string): Promise<ConsumeQueueRef[]> {
    if (this.single !== null) {
      const n = (await this.existingRoute(this.single, topic)).queues;
      return Array.from({ length: n }, (_, queueId) => ({ brokerName: '', queueId }));
    }
    const data = await this.namesrv!.topicRoute(topic);
    this.groups!.update(data.brokerDatas);
    const refs: ConsumeQueueRef[] = [];
    const datas = [...data.queueDatas].sort((a, b) => (a.brokerName < b.brokerName ? -1 : a.brokerName > b.brokerName ? 1 : 0));
    for (const qd of datas) {
      if ((qd.perm & PERM_READ) === 0) continue;
      for (let q = 0; q < qd.readQueueNums; q++) refs.push({ brokerName: qd.brokerName, queueId: q });
    }
    if (refs.length === 0) throw new RaftmqError('TOPIC_NOT_FOUND', `topic ${topic} has no readable queues`);
    return refs;
  }

  /** The route of `topic`, TOPIC_NOT_FOUND when it does not exist (a consumer never creates a
   *  topic). Asked from the master when one answers: a slave a heartbeat behind a topic's
   *  creation would still call it unknown. */
  private async existingRoute(cluster: ClusterClient, topic: string): Promise<{ queues: number }> {
    const now = Date.now();
    await cluster.discoverMaster(now + cluster.requestTimeoutMs).catch(() => undefined);
    return cluster.route(topic, { tries: 3, deadline: now + cluster.requestTimeoutMs * 3 }, { mustExist: true });
  }

  private preferred(cluster: ClusterClient): string[] {
    const master = cluster.master;
    if (this.readFrom === 'slave' && master) {
      return [...cluster.servers.filter((s) => s !== master), master];
    }
    return [];
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** A bounded FIFO between the pullers and the iterator. */
class Channel<T> {
  private items: T[] = [];
  private head = 0;
  private closed = false;
  private failure: unknown = null;
  private taker: ((v: void) => void) | null = null;
  private putters: Array<() => void> = [];

  constructor(private readonly countMax: number) {}

  private get size(): number {
    return this.items.length - this.head;
  }

  /** Adds items; resolves once there is room again (backpressure for the pullers). */
  async put(items: readonly T[]): Promise<void> {
    if (this.closed) return;
    this.items.push(...items);
    this.wake();
    while (!this.closed && this.size > this.countMax) await new Promise<void>((r) => this.putters.push(r));
  }

  /** Next item; undefined when closed or idle for `idleMs`. Throws a puller's fatal error. */
  async take(idleMs?: number): Promise<T | undefined> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.size > 0) {
        const item = this.items[this.head++]!;
        if (this.head > 1024 && this.head * 2 > this.items.length) {
          this.items = this.items.slice(this.head);
          this.head = 0;
        }
        if (this.size <= this.countMax) for (const p of this.putters.splice(0)) p();
        return item;
      }
      if (this.closed) return undefined;
      const woke = await new Promise<boolean>((resolve) => {
        const timer = idleMs === undefined ? null : setTimeout(() => resolve(false), idleMs);
        this.taker = () => {
          if (timer) clearTimeout(timer);
          resolve(true);
        };
      });
      this.taker = null;
      if (!woke) return undefined;
    }
  }

  fail(err: unknown): void {
    this.failure = err;
    this.wake();
  }

  close(): void {
    this.closed = true;
    this.wake();
    for (const p of this.putters.splice(0)) p();
  }

  private wake(): void {
    const taker = this.taker;
    this.taker = null;
    taker?.();
  }
}
