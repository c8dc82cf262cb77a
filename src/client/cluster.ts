// What producer, consumer and admin share: one lazy connection per server address, master
// discovery, a route cache, and the retry loop for requests that must reach the master.
//
// Retry policy (RocketMQ's retryTimesWhenSendFailed): up to `tries` attempts in total, never
// past the call's deadline. An attempt counts when the request reached a broker (or may have);
// finding no master yet, or a refused connect before the request left, only costs time. NOT_MASTER with an address hint goes straight to that address
// (bounded by HINT_FOLLOWS_MAX, not counted as a try). TIMEOUT, CONNECTION_LOST, NO_QUORUM,
// SHUTTING_DOWN, OVERLOADED and NOT_MASTER without a hint forget the master, back off briefly
// and try again, asking the other servers first. Any other error is final. A retried request
// whose first try timed out or lost its connection after leaving may have been executed:
// sends are at-least-once. A call with `retryUnknown: false` stops instead (membership changes).
import { messagesToWire, type NodeStatus, type ReadConsistency, RaftmqError, isRetryable, outcomeOf } from '../protocol/index.ts';
import { Connection, backoffMs, delay, parseAddr } from '../net/index.ts';
import type { RequestInput, RequestType, ResponseFor, RouteResponse } from './types.ts';

/** A connection-level failure: the broker said nothing. */
function isConnectFailure(err: unknown): boolean {
  return err instanceof RaftmqError && err.code === 'CONNECTION_LOST';
}

/** `err` as the failure of a whole call: its outcome set (unknown if any try may have stored the
 *  write), and the last try's error named when it is not the one reported. */
function withOutcome(err: unknown, anyUnknown: boolean, last: unknown): unknown {
  if (!(err instanceof RaftmqError)) return err;
  const outcome = anyUnknown ? 'unknown' : outcomeOf(err);
  const later = last !== err && last instanceof Error ? `; a later try: ${last.message}` : '';
  return new RaftmqError(err.code, `${err.message}${later}`, {
    cause: err,
    outcome,
    ...(err.requestSent !== undefined ? { requestSent: err.requestSent } : {}),
    ...(err.masterId ? { masterId: err.masterId } : {}),
    ...(err.masterAddr ? { masterAddr: err.masterAddr } : {}),
  });
}

/** A read frame's consistency field: absent for the default ('committed'), so every default
 *  read stays the frame it was. TypeError for anything but the two ReadConsistency values. */
export function consistencyOf(options: { readonly consistency?: ReadConsistency }): { consistency?: ReadConsistency } {
  const c = options.consistency;
  if (c === undefined || c === 'committed') return {};
  if (c !== 'linearizable') throw new TypeError(`consistency must be 'committed' or 'linearizable', got ${JSON.stringify(c)}`);
  return { consistency: c };
}

/** NOT_MASTER hints followed in one call before they count as failures. */
export const HINT_FOLLOWS_MAX = 3;
/** Routes are refreshed after this long even without errors (RocketMQ clients: 30 s). */
export const ROUTE_REFRESH_MS = 30_000;
export const RETRY_BACKOFF_MS_MIN = 20;
export const RETRY_BACKOFF_MS_MAX = 500;
/** Cap for one discovery probe (status) so a dead server does not eat the whole deadline. */
export const DISCOVERY_TIMEOUT_MS_MAX = 1000;
/** A try that may follow a master change (CallOptions.followMasterChange) and has had no answer
 *  for this long makes the client ask the other replicas whether a new master was elected. Well
 *  above a loaded master's answer time, well below an election (0.5-1 s). */
export const STALL_PROBE_AFTER_MS = 200;
/** While a try stalls, the other replicas are asked this often. */
export const STALL_PROBE_INTERVAL_MS = 50;

export interface ClusterOptions {
  /** host:port of the replicas' client listeners; any subset works, one is enough. */
  readonly servers: readonly string[];
  /** Default timeout of one request. */
  readonly requestTimeoutMs?: number;
  /** Connection knobs passed through (tests shorten backoff). */
  readonly connectTimeoutMs?: number;
  readonly backoffMsMin?: number;
  readonly backoffMsMax?: number;
}

export interface CallOptions {
  /** Attempts in total (1 = no retry). */
  readonly tries: number;
  /** Absolute time (Date.now()) after which no new attempt starts. */
  readonly deadline: number;
  /** Timeout of each attempt; capped by the time left before the deadline. */
  readonly timeoutMs?: number;
  /** false: no new try after one whose outcome is unknown (a TIMEOUT or a lost connection after
   *  the request left), for writes that must not be applied twice, such as membership changes.
   *  Tries refused before anything was stored (NOT_MASTER, NO_QUORUM, a refused connect) are
   *  retried either way. Default true (sends are at-least-once). */
  readonly retryUnknown?: boolean;
  /** The request may be sent again to a new master while a try is still in flight to the old one
   *  (an idempotent send, a read): when the client learns of a new master (learnMaster, or a
   *  stall probe finds one), the try is abandoned and the request goes to the new master at once,
   *  instead of waiting for the try's timeout. */
  readonly followMasterChange?: boolean;
  /** Asked after each failed try (and each failure to find a master): true ends the call at once
   *  with that error. `anyUnknown`: some try so far may have stored the write. The producer uses it
   *  to move a send that was certainly not stored to another broker group. */
  readonly giveUp?: (err: unknown, anyUnknown: boolean) => boolean;
  /** Called when a try that may follow a master change has had no answer for
   *  STALL_PROBE_AFTER_MS (the producer then steers new unkeyed sends to other groups). */
  readonly onStall?: () => void;
}

export interface RouteOptions {
  /** Ask a server even when a fresh route is cached. */
  readonly refresh?: boolean;
  /** TOPIC_NOT_FOUND for a topic that does not exist, even where a send would create it. */
  readonly mustExist?: boolean;
}

interface CachedRoute {
  readonly route: RouteResponse;
  readonly fetchedAt: number;
}

export class ClusterClient {
  private serverList: readonly string[];
  private readonly connections = new Map<string, Connection>();
  private readonly routes = new Map<string, CachedRoute>();
  private readonly routesInFlight = new Map<string, Promise<RouteResponse>>();
  private masterAddrValue: string | null = null;
  /** Told each time a master other than the last known one becomes known (onMasterChange). */
  private readonly masterListeners = new Set<(addr: string) => void>();
  /** Raft term in which masterAddr was master, as far as known (0: unknown). */
  private masterTerm = 0;
  /** Tries in flight that may follow a master change (learnMaster abandons those to another
   *  address). A set, not a reaction on a shared promise per try: a long-lived promise kept every
   *  try's closure until the next master change, and the garbage collector paid for it. */
  private readonly followingTries = new Set<FollowingTry>();
  /** Looks for stalled tries while there are any (one timer, not one per try). */
  private stallSweep: NodeJS.Timeout | null = null;
  /** Of followingTries, those stalled: the stall probe runs while there are any. */
  private stalledTries = 0;
  private probing = false;
  /** Addresses that failed lately: asked last during discovery. */
  private readonly suspects = new Set<string>();
  private nextServer = 0;
  private closed = false;
  readonly requestTimeoutMs: number;

  constructor(private readonly options: ClusterOptions) {
    if (!Array.isArray(options.servers) || options.servers.length === 0) {
      throw new TypeError('servers must list at least one host:port');
    }
    for (const s of options.servers) parseAddr(s);
    this.serverList = [...options.servers];
    this.requestTimeoutMs = options.requestTimeoutMs ?? 3000;
  }

  /** The master's address as last learned (null when unknown). */
  get master(): string | null {
    return this.masterAddrValue;
  }

  private get masterAddr(): string | null {
    return this.masterAddrValue;
  }

  /** Sets the known master (null: unknown); a newly known one is told to onMasterChange's
   *  listeners. Returns `addr`. */
  private setMaster<A extends string | null>(addr: A): A {
    const changed = addr !== null && addr !== this.masterAddrValue;
    this.masterAddrValue = addr;
    if (changed) for (const l of [...this.masterListeners]) l(addr);
    return addr;
  }

  /** Calls `listener` with each master address that becomes known and differs from the one known
   *  before (not when the master becomes unknown); returns the unsubscribe. A push consumer's long
   *  poll parked at a replaced master follows it this way. */
  onMasterChange(listener: (addr: string) => void): () => void {
    this.masterListeners.add(listener);
    return () => void this.masterListeners.delete(listener);
  }

  /** host:port of the replicas' client listeners as given (or as setServers last set them). */
  get servers(): readonly string[] {
    return this.serverList;
  }

  /** Replaces the replica list (a NameServer told of the group's current replicas). Connections
   *  to servers no longer listed stay until close: a request may still be in flight on one. */
  setServers(servers: readonly string[]): void {
    if (servers.length === 0) return;
    for (const s of servers) parseAddr(s);
    this.serverList = [...servers];
  }

  /**
   * Tells the client who the master is (a NameServer's push, a replica's status), and in which
   * Raft term (0: unknown). A report of an older term than the one known is ignored. A new address
   * wakes tries in flight that may follow a master change (CallOptions.followMasterChange).
   */
  learnMaster(addr: string, term: number): void {
    if (term !== 0 && term < this.masterTerm) return;
    if (term > this.masterTerm) this.masterTerm = term;
    this.suspects.delete(addr);
    if (addr === this.masterAddr) return;
    this.setMaster(addr);
    for (const t of [...this.followingTries]) if (t.addr !== addr) t.abandon(addr);
  }

  connection(addr: string): Connection {
    if (this.closed) throw new RaftmqError('CONNECTION_LOST', 'client is closed');
    let conn = this.connections.get(addr);
    if (!conn) {
      const { host, port } = parseAddr(addr);
      conn = new Connection({
        host,
        port,
        requestTimeoutMs: this.requestTimeoutMs,
        // A replica that just went away is not waited for: the retry loop asks the others.
        failFastWhileDown: true,
        ...(this.options.connectTimeoutMs !== undefined ? { connectTimeoutMs: this.options.connectTimeoutMs } : {}),
        ...(this.options.backoffMsMin !== undefined ? { backoffMsMin: this.options.backoffMsMin } : {}),
        ...(this.options.backoffMsMax !== undefined ? { backoffMsMax: this.options.backoffMsMax } : {}),
      });
      this.connections.set(addr, conn);
    }
    return conn;
  }

  /** One request to one address, typed by request type. */
  request<T extends RequestType>(addr: string, frame: RequestInput<T>, timeoutMs?: number): Promise<ResponseFor<T>> {
    const timeout = timeoutMs ?? this.requestTimeoutMs;
    if (frame.type === 'send') {
      // Bodies as the frame's blobs (protocol.ts WireMessage): written as they are, not packed.
      const send = frame as unknown as RequestInput<'send'>;
      const { wire, blobs } = messagesToWire(send.messages);
      const out =
        send.producerId !== undefined
          ? { type: 'send', topic: send.topic, queueId: send.queueId, messages: wire, producerId: send.producerId, seq: send.seq }
          : { type: 'send', topic: send.topic, queueId: send.queueId, messages: wire };
      return this.connection(addr).request<ResponseFor<T>>(out, { timeoutMs: timeout, blobs });
    }
    return this.connection(addr).request<ResponseFor<T>>(frame as unknown as Parameters<Connection['request']>[0], { timeoutMs: timeout });
  }

  /** Servers in the order to try them: rotating start, recently failed ones last. */
  serverOrder(): string[] {
    const start = this.nextServer++ % this.servers.length;
    const rotated = [...this.servers.slice(start), ...this.servers.slice(0, start)];
    return [...rotated.filter((s) => !this.suspects.has(s)), ...rotated.filter((s) => this.suspects.has(s))];
  }

  markSuspect(addr: string): void {
    this.suspects.add(addr);
    if (this.masterAddr === addr) this.setMaster(null);
  }

  /** The other replicas' view: a master elected in a later term than the known one is learned.
   *  Runs while a try that may follow a master change stalls; one probe loop per client. */
  private async probeForNewMaster(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    try {
      while (this.stalledTries > 0 && !this.closed) {
        const current = this.masterAddr;
        const others = this.serverList.filter((s) => s !== current);
        await Promise.all(
          others.map((addr) =>
            this.status(addr, STALL_PROBE_INTERVAL_MS * 4).then(
              (st) => {
                if (st.term <= this.masterTerm) return;
                if (st.role === 'MASTER') this.learnMaster(addr, st.term);
                else if (st.leaderAddr && st.leaderAddr !== current) this.learnMaster(st.leaderAddr, st.term);
              },
              () => undefined,
            ),
          ),
        );
        if (this.stalledTries > 0) await delay(STALL_PROBE_INTERVAL_MS);
      }
    } finally {
      this.probing = false;
    }
  }

  /** One try of a request that may follow a master change: resolves with the answer, or
   *  rejects with MASTER_MOVED when learnMaster names another master first. Starts the stall
   *  probe when no answer came within STALL_PROBE_AFTER_MS. */
  private tryFollowingMaster<T extends RequestType>(addr: string, frame: RequestInput<T>, timeoutMs: number, onStall?: () => void): Promise<ResponseFor<T>> {
    return new Promise<ResponseFor<T>>((resolve, reject) => {
      const entry: FollowingTry = {
        addr,
        startedAt: performance.now(),
        stalled: false,
        onStall,
        abandon: (to) => {
          if (!this.endTry(entry)) return;
          reject(new MasterMoved(addr, to));
        },
      };
      this.followingTries.add(entry);
      if (this.stallSweep === null) this.stallSweep = setInterval(() => this.sweepStalls(), STALL_PROBE_INTERVAL_MS);
      this.request(addr, frame, timeoutMs).then(
        (r) => {
          if (this.endTry(entry)) resolve(r);
        },
        (e: unknown) => {
          if (this.endTry(entry)) reject(e);
        },
      );
    });
  }

  /** Ends a following try; false when it had ended already. */
  private endTry(entry: FollowingTry): boolean {
    if (!this.followingTries.delete(entry)) return false;
    if (entry.stalled) this.stalledTries--;
    if (this.followingTries.size === 0 && this.stallSweep !== null) {
      clearInterval(this.stallSweep);
      this.stallSweep = null;
    }
    return true;
  }

  /** Marks tries without an answer for STALL_PROBE_AFTER_MS as stalled and starts the probe. */
  private sweepStalls(): void {
    const now = performance.now();
    let newly = false;
    for (const t of this.followingTries) {
      if (t.stalled || now - t.startedAt < STALL_PROBE_AFTER_MS) continue;
      t.stalled = true;
      this.stalledTries++;
      newly = true;
      t.onStall?.();
    }
    if (newly) void this.probeForNewMaster();
  }

  markHealthy(addr: string): void {
    this.suspects.delete(addr);
  }

  /** One node's status. */
  status(addr: string, timeoutMs?: number): Promise<NodeStatus> {
    return this.request<'status'>(addr, { type: 'status' }, timeoutMs).then((r) => r.status);
  }

  /** Finds the master by asking servers for their status. Throws the last error seen (or
   *  NOT_MASTER when every server answered but none knows a master). */
  async discoverMaster(deadline: number): Promise<string> {
    if (this.masterAddr) return this.masterAddr;
    let lastErr: unknown = new RaftmqError('NOT_MASTER', 'no server knows a master');
    for (const addr of this.serverOrder()) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      try {
        const status = await this.status(addr, Math.min(left, DISCOVERY_TIMEOUT_MS_MAX, this.requestTimeoutMs));
        this.markHealthy(addr);
        if (status.role === 'MASTER') {
          if (status.term >= this.masterTerm) this.masterTerm = status.term;
          return this.setMaster(addr);
        }
        if (status.leaderAddr) {
          if (status.term >= this.masterTerm) this.masterTerm = status.term;
          return this.setMaster(status.leaderAddr);
        }
        lastErr = new RaftmqError('NOT_MASTER', `${addr} knows no master (raft role ${status.raftRole})`);
      } catch (err) {
        this.markSuspect(addr);
        lastErr = err;
      }
    }
    throw lastErr;
  }

  /** Sends `frame` to the master with the retry policy above. A failure carries `outcome`:
   *  'unknown' if any try may have stored the write (even when a later try was refused), else
   *  'not-stored'; with an unknown try its error is the one reported (the least certain wins). */
  async callMaster<T extends RequestType>(frame: RequestInput<T>, call: CallOptions): Promise<ResponseFor<T>> {
    let lastErr: unknown = null;
    let unknownErr: unknown = null;
    let tries = 0;
    let pauses = 0;
    let hintFollows = 0;
    while (tries < call.tries && Date.now() < call.deadline) {
      let addr: string | null = null;
      try {
        addr = await this.discoverMaster(call.deadline);
        const timeoutMs = Math.min(call.timeoutMs ?? this.requestTimeoutMs, Math.max(1, call.deadline - Date.now()));
        const resp = call.followMasterChange === true ? await this.tryFollowingMaster(addr, frame, timeoutMs, call.onStall) : await this.request(addr, frame, timeoutMs);
        this.markHealthy(addr);
        return resp;
      } catch (err) {
        if (err instanceof MasterMoved) {
          // The request may have been stored by the old master: an unknown outcome, but the
          // caller said the request is safe to repeat, and the new master is known: go at once.
          unknownErr = new RaftmqError('TIMEOUT', `no answer from ${err.from} before ${err.to ?? 'another replica'} became master`, { requestSent: true });
          if (hintFollows++ < HINT_FOLLOWS_MAX * 2) continue;
          tries++;
          continue;
        }
        // When every try fails, report what a live broker said (NO_QUORUM, TIMEOUT...) rather
        // than a later refused connect to a dead one: it tells the user what is wrong.
        if (lastErr === null || !isConnectFailure(err) || isConnectFailure(lastErr)) lastErr = err;
        if (addr !== null && outcomeOf(err) === 'unknown') unknownErr = err;
        if (!isRetryable(err)) break;
        if (call.retryUnknown === false && unknownErr !== null) break;
        if (call.giveUp?.(err, unknownErr !== null) === true) break;
        const e = err as RaftmqError;
        if (e.code === 'NOT_MASTER' && e.masterAddr && e.masterAddr !== addr && hintFollows < HINT_FOLLOWS_MAX) {
          hintFollows++;
          this.setMaster(e.masterAddr);
          continue; // follow the hint at once; not counted as a try
        }
        if (addr) this.markSuspect(addr);
        this.setMaster(null);
        // A try is a request that reached (or may have reached) a broker. No master known yet,
        // or a connection refused before the request left, costs time but no try.
        if (addr !== null && e.requestSent !== false) tries++;
        if (tries >= call.tries) break;
        const pause = Math.min(backoffMs(pauses++, RETRY_BACKOFF_MS_MIN, RETRY_BACKOFF_MS_MAX), call.deadline - Date.now());
        if (pause > 0) await delay(pause);
      }
    }
    throw withOutcome(unknownErr ?? lastErr ?? new RaftmqError('TIMEOUT', `${frame.type} not attempted before its deadline`, { requestSent: false }), unknownErr !== null, lastErr);
  }

  /** Sends `frame` to the first server that answers (servers in serverOrder, or `prefer` first).
   *  Counts tries as callMaster does: a refused connect (the request never left) costs time, not
   *  a try; a replica that cannot answer from current state (catching up, or a slave asked about
   *  a topic it does not know) names the master, which is asked at once (not a try either). */
  async callAny<T extends RequestType>(
    frame: RequestInput<T>,
    call: CallOptions & { readonly prefer?: readonly string[] },
  ): Promise<ResponseFor<T>> {
    let lastErr: unknown = null;
    const order = [...new Set([...(call.prefer ?? []), ...this.serverOrder()])];
    let hint: string | null = null;
    let hintFollows = 0;
    let tries = 0;
    let pauses = 0;
    for (let next = 0; tries < call.tries; ) {
      const addr: string = hint ?? order[next++ % order.length]!;
      hint = null;
      const left = call.deadline - Date.now();
      if (left <= 0) break;
      try {
        const resp = await this.request(addr, frame, Math.min(call.timeoutMs ?? this.requestTimeoutMs, left));
        this.markHealthy(addr);
        return resp;
      } catch (err) {
        if (lastErr === null || !isConnectFailure(err) || isConnectFailure(lastErr)) lastErr = err;
        if (!isRetryable(err)) throw err;
        const e = err as RaftmqError;
        if (e.code === 'NOT_MASTER' && e.masterAddr && e.masterAddr !== addr && hintFollows < HINT_FOLLOWS_MAX) {
          hintFollows++;
          hint = e.masterAddr;
          continue;
        }
        this.markSuspect(addr);
        if (e.requestSent !== false) tries++;
        // A pause once every server was asked in this round (not between servers).
        if (tries < call.tries && next % order.length === 0) {
          const pause = Math.min(backoffMs(pauses++, RETRY_BACKOFF_MS_MIN, RETRY_BACKOFF_MS_MAX), call.deadline - Date.now());
          if (pause > 0) await delay(pause);
        }
      }
    }
    throw lastErr ?? new RaftmqError('TIMEOUT', `${frame.type} not attempted before its deadline`);
  }

  /**
   * The topic's route, cached for ROUTE_REFRESH_MS; asked from the master when known. `refresh`
   * skips the cache. `mustExist` (consumers, admin): an unknown topic is TOPIC_NOT_FOUND even
   * where a send would create it; such a call neither reads the cache nor shares a request in
   * flight, which may hold a producer's answer for a topic that does not exist yet.
   */
  async route(topic: string, call: CallOptions, options: RouteOptions = {}): Promise<RouteResponse> {
    const mustExist = options.mustExist === true;
    const cached = this.routes.get(topic);
    if (cached && !options.refresh && !mustExist && Date.now() - cached.fetchedAt < ROUTE_REFRESH_MS) return cached.route;
    // Concurrent first sends share one route request.
    const inFlight = mustExist ? undefined : this.routesInFlight.get(topic);
    if (inFlight) return inFlight;
    const frame: RequestInput<'route'> = mustExist ? { type: 'route', topic, mustExist } : { type: 'route', topic };
    const promise = this.callAny<'route'>(frame, { ...call, prefer: this.masterAddr ? [this.masterAddr] : [] }).then((route) => {
      this.routes.set(topic, { route, fetchedAt: Date.now() });
      if (route.master?.addr && !this.masterAddr) this.setMaster(route.master.addr);
      return route;
    });
    if (mustExist) return promise;
    const shared = promise.finally(() => this.routesInFlight.delete(topic));
    this.routesInFlight.set(topic, shared);
    return shared;
  }

  /** Cached route without a request (undefined if none or stale). */
  cachedRoute(topic: string, now = Date.now()): RouteResponse | undefined {
    const cached = this.routes.get(topic);
    return cached && now - cached.fetchedAt < ROUTE_REFRESH_MS ? cached.route : undefined;
  }

  invalidateRoute(topic: string): void {
    this.routes.delete(topic);
  }

  /** Total socket writes and requests over all connections (for tests and benchmarks). */
  stats(): { writes: number; requests: number } {
    let writes = 0;
    let requests = 0;
    for (const c of this.connections.values()) {
      writes += c.stats.writes;
      requests += c.stats.requests;
    }
    return { writes, requests };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of [...this.followingTries]) t.abandon(null);
    await Promise.all([...this.connections.values()].map((c) => c.close()));
    this.connections.clear();
  }
}

/** A try in flight that may be sent again to a new master (tryFollowingMaster). */
interface FollowingTry {
  readonly addr: string;
  readonly startedAt: number;
  stalled: boolean;
  readonly onStall: (() => void) | undefined;
  /** Rejects the try with MasterMoved (to: the new master, null when the client closes). */
  readonly abandon: (to: string | null) => void;
}

/** A try abandoned because another replica became master while it was in flight. */
class MasterMoved extends Error {
  constructor(
    readonly from: string,
    readonly to: string | null,
  ) {
    super(`master moved from ${from} to ${to ?? 'unknown'}`);
  }
}
