// The NameServer: a frame listener (src/net, as the broker's client listener) over the route
// table. Stateless: what it knows is what registrations told it since it started; a restarted
// one is refilled by the brokers' next registrations. Logs one line per registration change (a
// replica added or dropped, a group's new master), never one per renewal.
import { randomUUID } from 'node:crypto';
import { FrameError, listen, type Frame, type LogFn, type Server, type ServerConnection } from '../net/index.ts';
import {
  BROKER_EXPIRY_SCAN_MS,
  FRAME_BYTES_MAX,
  RaftmqError,
  errorResponse,
  type NamesrvRequest,
  type NamesrvResponse,
  type RouteChanges,
} from '../protocol/index.ts';
import { validateTopic, validateUnregister, validateWatch } from './requests.ts';
import { RouteTable, type RouteEvent, type RouteTableOptions } from './route-table.ts';
import { RouteWatches } from './route-watches.ts';

/** watchRoutes long polls parked at once; more are answered at once (the client polls again). */
export const PARKED_WATCHES_MAX = 10_000;
/** Characters of an unknown request type quoted back in the BAD_REQUEST message. */
const UNKNOWN_TYPE_QUOTED_CHARS_MAX = 64;

export interface NamesrvServerOptions extends RouteTableOptions {
  readonly host: string;
  /** 0 picks a free port; see `port`. */
  readonly port: number;
  readonly log?: LogFn;
  /** Milliseconds on a clock that only moves forward (default performance.now). */
  readonly now?: () => number;
  readonly expiryScanMs?: number;
  readonly parkedWatchesMax?: number;
}

export class NamesrvServer {
  /** Random per process: versions of two NameServer processes are not comparable. */
  readonly instanceId = randomUUID();
  readonly table: RouteTable;
  private readonly watches: RouteWatches;
  private readonly log: LogFn;
  private readonly now: () => number;
  private server: Server | null = null;
  private scanTimer: NodeJS.Timeout | null = null;
  private closing: Promise<void> | null = null;
  /** The table's version when the parked watches were last woken. */
  private lastWokenVersion = 0;

  private constructor(options: NamesrvServerOptions) {
    this.table = new RouteTable(options);
    this.watches = new RouteWatches(options.parkedWatchesMax ?? PARKED_WATCHES_MAX);
    this.log = options.log ?? (() => {});
    this.now = options.now ?? (() => performance.now());
  }

  /** Listens on host:port and starts the expiry scan. */
  static async start(options: NamesrvServerOptions): Promise<NamesrvServer> {
    const ns = new NamesrvServer(options);
    const { host, port, log } = options;
    // No frameTypes filter: an unknown type is answered BAD_REQUEST, so a newer client learns why.
    ns.server = await listen({ host, port, ...(log !== undefined ? { log } : {}) }, (frame, conn) => ns.handle(frame, conn));
    ns.scanTimer = setInterval(() => ns.noted(ns.table.expire(ns.now())), options.expiryScanMs ?? BROKER_EXPIRY_SCAN_MS);
    ns.scanTimer.unref();
    return ns;
  }

  get port(): number {
    return this.server?.port ?? 0;
  }

  /** host:port listened on. */
  get addr(): string {
    return this.server?.addr ?? '';
  }

  /** Answers every parked watch, stops the scan and the listener. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.scanTimer !== null) clearInterval(this.scanTimer);
      this.watches.wakeAll();
      // Closed, not destroyed: the answers just queued get out first.
      for (const conn of [...(this.server?.connections ?? [])]) conn.close('namesrv closing');
      await this.server?.close();
    })();
    return this.closing;
  }

  /** Every group's routes as a watch answer carries them. */
  changes(): RouteChanges {
    return { instanceId: this.instanceId, version: this.table.version, brokerDatas: this.table.brokerDatas(this.now()) };
  }

  private handle(frame: Frame, conn: ServerConnection): void {
    const req = frame as unknown as NamesrvRequest & Record<string, unknown>;
    try {
      this.dispatch(req, conn);
    } catch (err) {
      conn.send(errorResponse(req.id, err));
    }
  }

  private dispatch(req: NamesrvRequest & Record<string, unknown>, conn: ServerConnection): void {
    const id = req.id;
    switch (req.type) {
      case 'registerBroker': {
        this.noted(this.table.register(req.broker, this.now()));
        return this.reply(conn, { type: 'registered', id, instanceId: this.instanceId, version: this.table.version });
      }
      case 'unregisterBroker':
        this.noted(this.table.unregister(validateUnregister(req), this.now()));
        return this.reply(conn, { type: 'ok', id });
      case 'getRouteInfoByTopic': {
        const topic = validateTopic(req);
        const route = this.table.topicRoute(topic, this.now());
        if (route === null) throw new RaftmqError('TOPIC_NOT_FOUND', `no broker group this NameServer knows holds topic ${topic}`);
        return this.reply(conn, { type: 'topicRoute', id, topic, route });
      }
      case 'getBrokerClusterInfo':
        return this.reply(conn, { type: 'clusterInfo', id, info: this.table.clusterInfo(this.now()) });
      case 'getAllTopicList':
        return this.reply(conn, { type: 'topicList', id, topics: this.table.topicList() });
      case 'watchRoutes': {
        const w = validateWatch(req);
        const answer = () => this.reply(conn, { type: 'routeChanges', id, changes: this.changes() });
        const current = w.instanceId === this.instanceId && w.sinceVersion === this.table.version;
        if (!current || w.waitMs === 0 || this.closing !== null || !this.watches.park(conn, w.waitMs, answer)) answer();
        return;
      }
      default:
        throw new RaftmqError('BAD_REQUEST', `unknown request type ${JSON.stringify((req as Frame).type).slice(0, UNKNOWN_TYPE_QUOTED_CHARS_MAX)}`);
    }
  }

  /** Sends an answer; one too large for a frame becomes an error the client can read. */
  private reply(conn: ServerConnection, resp: NamesrvResponse): void {
    try {
      conn.send(resp);
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      conn.send(errorResponse(resp.id, new RaftmqError('OVERLOADED', `the ${resp.type} answer is larger than a frame (${FRAME_BYTES_MAX} bytes): ${err.message}`)));
    }
  }

  /** Logs the changes (one line each) and wakes the watches when a client would see any. */
  private noted(events: readonly RouteEvent[]): void {
    for (const e of events) {
      if (e.kind === 'added') {
        const { clusterName, brokerName, nodeId, brokerId, role, term, brokerAddr } = e.registration;
        this.log('info', `replica registered: ${brokerName}/${nodeId} (${role})`, { clusterName, brokerName, nodeId, brokerId, role, term, addr: brokerAddr });
      } else if (e.kind === 'dropped') {
        this.log(e.reason === 'expired' ? 'warn' : 'info', `replica dropped (${e.reason}): ${e.brokerName}/${e.nodeId}`, { brokerName: e.brokerName, nodeId: e.nodeId, reason: e.reason, silentMs: Math.round(e.silentMs) });
      } else if (e.nodeId === '') {
        this.log('warn', `broker group ${e.brokerName} has no master now`, { brokerName: e.brokerName });
      } else {
        this.log('info', `new master of ${e.brokerName}: ${e.nodeId} at ${e.addr} (term ${e.term})`, { brokerName: e.brokerName, nodeId: e.nodeId, addr: e.addr, term: e.term });
      }
    }
    this.wakeIfChanged();
  }

  /** Answers the parked watches when the version moved since they were last answered. */
  private wakeIfChanged(): void {
    if (this.table.version === this.lastWokenVersion) return;
    this.lastWokenVersion = this.table.version;
    this.watches.wakeAll();
  }
}
