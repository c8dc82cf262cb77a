// A producer's cache of topic routes. A stale route is still used while a refresh is fetched in
// the background, so sends go on from cached routes while every NameServer is down; a failed
// refresh is tried again after a while, not on every send.
import { RaftmqError } from '../protocol/index.ts';
import { ROUTE_REFRESH_MS } from './cluster.ts';
import type { MessageQueue, PublishRoute } from './publish-route.ts';

/** After a failed background refresh, the next one waits this long. */
const REFRESH_RETRY_MS = 1000;

export interface CachedRoute {
  readonly route: PublishRoute;
  fetchedAt: number;
  /** Round robin counter (RocketMQ's sendWhichQueue). */
  next: number;
}

export class PublishRoutes {
  private readonly routes = new Map<string, CachedRoute>();
  private readonly inFlight = new Map<string, Promise<CachedRoute>>();

  /** `fetch` asks a broker or a NameServer; `refreshDeadlineMs` bounds a background refresh. */
  constructor(
    private readonly fetch: (topic: string, deadline: number) => Promise<PublishRoute>,
    private readonly refreshDeadlineMs: number,
    private readonly onFetched: (route: PublishRoute) => void = () => {},
  ) {}

  /** The cached route (stale or not), starting a background refresh when it is stale. */
  cached(topic: string, now: number): CachedRoute | undefined {
    const cached = this.routes.get(topic);
    if (cached === undefined) return undefined;
    if (now - cached.fetchedAt >= ROUTE_REFRESH_MS && !this.inFlight.has(topic)) {
      this.fetchNow(topic, now + this.refreshDeadlineMs).catch(() => {
        cached.fetchedAt = Date.now() - ROUTE_REFRESH_MS + REFRESH_RETRY_MS;
      });
    }
    return cached;
  }

  /** The cached route, or a fetched one when there is none. */
  get(topic: string, deadline: number): Promise<CachedRoute> {
    const cached = this.cached(topic, Date.now());
    return cached !== undefined ? Promise.resolve(cached) : this.fetchNow(topic, deadline);
  }

  /** Refresh `topic`'s route (every route without a topic) at its next use. */
  markStale(topic?: string): void {
    if (topic === undefined) for (const r of this.routes.values()) r.fetchedAt = 0;
    else {
      const r = this.routes.get(topic);
      if (r !== undefined) r.fetchedAt = 0;
    }
  }

  private fetchNow(topic: string, deadline: number): Promise<CachedRoute> {
    const running = this.inFlight.get(topic);
    if (running !== undefined) return running;
    const promise = this.fetch(topic, deadline)
      .then((route) => {
        if (route.queues.length === 0) throw new RaftmqError('TOPIC_NOT_FOUND', `topic ${topic} has no writable queues`);
        const old = this.routes.get(topic);
        // The same queue objects when nothing changed: open batches are keyed by them.
        const cached: CachedRoute = { route: sameRoute(old?.route, route) ? old!.route : route, fetchedAt: Date.now(), next: old?.next ?? 0 };
        this.routes.set(topic, cached);
        this.onFetched(route);
        return cached;
      })
      .finally(() => this.inFlight.delete(topic));
    this.inFlight.set(topic, promise);
    return promise;
  }
}

function sameRoute(a: PublishRoute | undefined, b: PublishRoute): boolean {
  if (a === undefined || a.queues.length !== b.queues.length) return false;
  for (let i = 0; i < a.queues.length; i++) {
    const x: MessageQueue = a.queues[i]!;
    const y: MessageQueue = b.queues[i]!;
    if (x.brokerName !== y.brokerName || x.queueId !== y.queueId) return false;
  }
  return true;
}
