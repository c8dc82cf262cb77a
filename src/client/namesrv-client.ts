// A client of the NameServers (src/namesrv): topic routes, cluster info, topic list, and a
// watch of route changes. Any NameServer answers; they are asked in turn, recently failed ones
// last. Each holds what registrations told it since it started, so a NameServer restarted a
// moment ago may not know a topic yet: TOPIC_NOT_FOUND from one is checked with the others.
import {
  RaftmqError,
  WATCH_ROUTES_WAIT_MS_MAX,
  type ClusterInfo,
  type NamesrvRequest,
  type NamesrvResponse,
  type RouteChanges,
  type TopicRouteData,
} from '../protocol/index.ts';
import { Connection, backoffMs, delay, parseAddr } from '../net/index.ts';

/** RocketMQ's environment variable for NameServer addresses. */
export const NAMESRV_ADDR_ENV = 'NAMESRV_ADDR';
/** A watch long poll asks the NameServer to hold it this long. */
export const WATCH_WAIT_MS = 15_000;
const WATCH_BACKOFF_MS_MIN = 100;
const WATCH_BACKOFF_MS_MAX = 3000;

/** `host:port;host:port` (RocketMQ's namesrvAddr; `,` also separates) as a list of addresses.
 *  Throws a TypeError naming a bad address or an empty list. */
export function parseNamesrvAddr(s: string): string[] {
  const list = s
    .split(/[;,]/)
    .map((a) => a.trim())
    .filter((a) => a.length > 0);
  if (list.length === 0) throw new TypeError('namesrv needs at least one host:port');
  for (const a of list) parseAddr(a);
  return [...new Set(list)];
}

/** NAMESRV_ADDR's addresses, or null when it is unset or empty. */
export function namesrvAddrFromEnv(env: NodeJS.ProcessEnv = process.env): string[] | null {
  const v = env[NAMESRV_ADDR_ENV];
  return v === undefined || v.trim() === '' ? null : parseNamesrvAddr(v);
}

export interface NamesrvClientOptions {
  readonly namesrv: readonly string[];
  /** Timeout of one request to one NameServer. */
  readonly requestTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
}

type NamesrvRequestInput = NamesrvRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;
type AnswerOf<T extends NamesrvResponse['type']> = Extract<NamesrvResponse, { type: T }>;

export class NamesrvClient {
  readonly addrs: readonly string[];
  private readonly connections = new Map<string, Connection>();
  private readonly suspects = new Set<string>();
  private readonly requestTimeoutMs: number;
  private next = 0;
  private closed = false;
  private readonly watchStops = new Set<AbortController>();

  constructor(private readonly options: NamesrvClientOptions) {
    if (!Array.isArray(options.namesrv) || options.namesrv.length === 0) throw new TypeError('namesrv must list at least one host:port');
    for (const a of options.namesrv) parseAddr(a);
    this.addrs = [...options.namesrv];
    this.requestTimeoutMs = options.requestTimeoutMs ?? 3000;
  }

  /** The topic's route. TOPIC_NOT_FOUND only when every NameServer that answered says so. */
  async topicRoute(topic: string): Promise<TopicRouteData> {
    const r = await this.ask<'topicRoute'>({ type: 'getRouteInfoByTopic', topic }, 'topicRoute', true);
    return r.route;
  }

  async clusterInfo(): Promise<ClusterInfo> {
    return (await this.ask<'clusterInfo'>({ type: 'getBrokerClusterInfo' }, 'clusterInfo', false)).info;
  }

  async topicList(): Promise<string[]> {
    return [...(await this.ask<'topicList'>({ type: 'getAllTopicList' }, 'topicList', false)).topics];
  }

  /**
   * Calls `onChange` with every group's BrokerData each time a NameServer reports a change (and
   * once when a watch first reaches a NameServer), until the returned function is called or the
   * client closes. Follows another NameServer when the one watched fails.
   */
  watch(onChange: (changes: RouteChanges) => void): () => void {
    const stop = new AbortController();
    this.watchStops.add(stop);
    void this.watchLoop(onChange, stop.signal).finally(() => this.watchStops.delete(stop));
    return () => stop.abort();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.watchStops) s.abort();
    await Promise.all([...this.connections.values()].map((c) => c.close()));
    this.connections.clear();
  }

  // ---- internals ----------------------------------------------------------------------

  private connection(addr: string): Connection {
    if (this.closed) throw new RaftmqError('CONNECTION_LOST', 'NameServer client is closed');
    let conn = this.connections.get(addr);
    if (conn === undefined) {
      const { host, port } = parseAddr(addr);
      conn = new Connection({
        host,
        port,
        requestTimeoutMs: this.requestTimeoutMs,
        ...(this.options.connectTimeoutMs !== undefined ? { connectTimeoutMs: this.options.connectTimeoutMs } : {}),
      });
      this.connections.set(addr, conn);
    }
    return conn;
  }

  private order(): string[] {
    const start = this.next++ % this.addrs.length;
    const rotated = [...this.addrs.slice(start), ...this.addrs.slice(0, start)];
    return [...rotated.filter((a) => !this.suspects.has(a)), ...rotated.filter((a) => this.suspects.has(a))];
  }

  private request<T extends NamesrvResponse['type']>(addr: string, frame: NamesrvRequestInput, timeoutMs: number): Promise<AnswerOf<T>> {
    return this.connection(addr).request<AnswerOf<T>>(frame as unknown as Parameters<Connection['request']>[0], { timeoutMs });
  }

  /** One request, to each NameServer in turn until one answers. With `notFoundAsksOthers`, a
   *  TOPIC_NOT_FOUND is final only once every NameServer that answered said it. */
  private async ask<T extends NamesrvResponse['type']>(frame: NamesrvRequestInput, answer: T, notFoundAsksOthers: boolean): Promise<AnswerOf<T>> {
    let lastErr: unknown = null;
    let notFound: unknown = null;
    for (const addr of this.order()) {
      try {
        const resp = await this.request<T>(addr, frame, this.requestTimeoutMs);
        this.suspects.delete(addr);
        if (resp.type !== answer) throw new RaftmqError('INTERNAL', `NameServer ${addr} answered ${String(resp.type)} to ${frame.type}`);
        return resp;
      } catch (err) {
        if (err instanceof RaftmqError && err.code === 'TOPIC_NOT_FOUND') {
          this.suspects.delete(addr);
          if (!notFoundAsksOthers) throw err;
          notFound = err;
          continue;
        }
        if (err instanceof RaftmqError && err.code === 'BAD_REQUEST') throw err;
        this.suspects.add(addr);
        lastErr = err;
      }
    }
    throw notFound ?? lastErr ?? new RaftmqError('CONNECTION_LOST', 'no NameServer answered');
  }

  private async watchLoop(onChange: (changes: RouteChanges) => void, signal: AbortSignal): Promise<void> {
    let instanceId = '';
    let version = -1;
    let failures = 0;
    while (!signal.aborted && !this.closed) {
      const addr = this.order()[0]!;
      try {
        const resp = await this.request<'routeChanges'>(
          addr,
          { type: 'watchRoutes', instanceId, sinceVersion: version, waitMs: Math.min(WATCH_WAIT_MS, WATCH_ROUTES_WAIT_MS_MAX) },
          WATCH_WAIT_MS + this.requestTimeoutMs,
        );
        if (signal.aborted) return;
        failures = 0;
        this.suspects.delete(addr);
        const c = resp.changes;
        if (c.instanceId !== instanceId || c.version !== version) {
          instanceId = c.instanceId;
          version = c.version;
          onChange(c);
        }
      } catch {
        if (signal.aborted || this.closed) return;
        this.suspects.add(addr);
        // Another NameServer's versions are not comparable: start over there.
        instanceId = '';
        version = -1;
        await delay(backoffMs(failures++, WATCH_BACKOFF_MS_MIN, WATCH_BACKOFF_MS_MAX), signal).catch(() => {});
      }
    }
  }
}
