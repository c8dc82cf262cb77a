// The frame server used by the broker (client listener) and by replicas (peer listener).
// Accepts connections, decodes frames, hands each to `handler(frame, conn)`. A malformed,
// oversized or unknown frame, or a handler that throws, closes that one connection with a
// logged reason; nothing a peer sends can crash the process.
//
// Admission, so that connections that send nothing cannot lock clients out:
// - At most `connectionsMax` connections at once, and `connectionsPerAddressMax` from one remote
//   address (IP), so that one client cannot take every slot.
// - A connection must deliver its first complete frame within `firstFrameTimeoutMs`, and a frame
//   it has begun must not stall that long (no byte of it while we are reading), or it is closed.
// - A connection that has delivered a frame is established and is never evicted. A newcomer that
//   finds its address full evicts that address's oldest connection still waiting for its first
//   frame (and likewise for the whole server); only when there is none is it refused. So a client
//   that shares its address with an attacker (loopback, a NAT) still gets in: the attacker's
//   silent connections are given up, and the client's own first frame comes within a round trip,
//   long before its connection could be the oldest silent one.
// - Refusals, evictions and timeouts are logged as one summary line per interval, never one line
//   per connection (warning-summary.ts).
import net from 'node:net';
import type { Socket } from 'node:net';
import { FRAME_BYTES_MAX } from '../protocol/index.ts';
import { FrameError } from './errors.ts';
import { FrameDecoder, type Frame } from './frame-codec.ts';
import { FrameWriter, type FrameWriterStats } from './frame-writer.ts';
import { WarningSummary } from './warning-summary.ts';

/** Connections one server holds at once (see the admission rules above). */
export const CONNECTIONS_MAX = 1024;
/** Connections from one remote address at once: below CONNECTIONS_MAX, so one address cannot
 *  take every slot. */
export const CONNECTIONS_PER_ADDRESS_MAX = 256;
/** How long a new connection has to deliver its first complete frame, and how long a begun
 *  frame may stall. Clients and peers send a frame as soon as they connect. */
export const FIRST_FRAME_TIMEOUT_MS = 3000;
/** At most one summary line of refusals, evictions and timeouts per interval. */
export const CONNECTION_WARNING_INTERVAL_MS = 10_000;
/** Longest time between two sweeps for expired first frames and stalled frames. */
const SWEEP_INTERVAL_MS_MAX = 1000;
/** Outgoing bytes one connection may have pending; above it the peer is a slow consumer and is closed. */
export const CONN_PENDING_BYTES_MAX = 64 * 1024 * 1024;
/** Above this many pending outgoing bytes, stop reading the connection's requests until it drains. */
export const CONN_PENDING_BYTES_HIGH = 8 * 1024 * 1024;
/** How long close(reason) waits for queued bytes to flush before destroying the socket. */
const CLOSE_GRACE_MS = 1000;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFn = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

export interface ServerOptions {
  readonly host: string;
  /** 0 picks a free port; see `server.port`. */
  readonly port: number;
  readonly log?: LogFn;
  readonly connectionsMax?: number;
  readonly connectionsPerAddressMax?: number;
  readonly firstFrameTimeoutMs?: number;
  readonly warningIntervalMs?: number;
  readonly connPendingBytesMax?: number;
  readonly connPendingBytesHigh?: number;
  readonly frameBytesMax?: number;
  /** When given, a frame whose `type` is not in the set closes its connection. */
  readonly frameTypes?: ReadonlySet<string>;
  readonly onConnection?: (conn: ServerConnection) => void;
  readonly onDisconnect?: (conn: ServerConnection, reason: string) => void;
}

/** Called for every decoded frame, in arrival order per connection. May return a promise;
 *  a throw or a rejection closes that connection. */
export type FrameHandler = (frame: Frame, conn: ServerConnection) => void | Promise<void>;

let nextConnectionId = 1;

/** Why a connection was refused or dropped by the admission rules: the keys of the summary. */
export type AdmissionEvent = 'connectionLimit' | 'addressLimit' | 'closing' | 'evicted' | 'firstFrameTimeout' | 'frameStalled';

export class ServerConnection {
  readonly id = nextConnectionId++;
  /** host:port of the remote end. */
  readonly remoteAddress: string;
  /** IP of the remote end: the unit of the per-address limit. */
  readonly remoteHost: string;
  /** Date.now() when accepted. */
  readonly acceptedAt = Date.now();
  /** @internal */
  readonly decoder: FrameDecoder;
  /** @internal: socket reads so far, compared between sweeps to see a stalled frame. */
  reads = 0;
  /** @internal: reading is paused by backpressure (a stall then is ours, not the peer's). */
  readPaused = false;
  private readsAtSweep = 0;
  /** Date.now() since when a begun frame has received no byte (-1: not stalled). */
  private stalledSince = -1;
  /** Free slot for the owner (e.g. the peer's node id after its hello). */
  context: unknown = undefined;
  readonly stats: FrameWriterStats & { framesReceived: number } = {
    framesQueued: 0,
    writes: 0,
    bytesWritten: 0,
    framesReceived: 0,
  };
  private readonly writer: FrameWriter;
  private _closed = false;
  private closeReason = '';
  private readonly closeListeners: Array<(reason: string) => void> = [];

  /** @internal */
  constructor(
    readonly socket: Socket,
    private readonly server: Server,
    frameBytesMax: number,
    private readonly pendingBytesMax: number,
  ) {
    this.remoteHost = socket.remoteAddress ?? '?';
    this.remoteAddress = `${this.remoteHost}:${socket.remotePort ?? 0}`;
    this.decoder = new FrameDecoder({ frameBytesMax });
    // The writer's own bound is above ours so that we, not it, decide what an overflow means.
    this.writer = new FrameWriter(socket, frameBytesMax, Number.MAX_SAFE_INTEGER, this.stats);
  }

  get closed(): boolean {
    return this._closed;
  }

  /** Outgoing bytes queued or buffered in the socket. */
  get pendingBytes(): number {
    return this.writer.pendingBytes;
  }

  /** Queues `frame`, followed by raw `blobs` if given (written coalesced at the end of this
   *  event-loop turn). Returns false if the connection is closed. A peer that lets more than the pending-bytes limit pile up is
   *  closed as a slow consumer. Throws FrameError for a frame over the size limit. */
  send(frame: object, blobs?: readonly Uint8Array[]): boolean {
    if (this._closed) return false;
    if (!(blobs === undefined ? this.writer.enqueue(frame) : this.writer.enqueueWithBlobs(frame, blobs))) return false;
    if (this.writer.pendingBytes > this.pendingBytesMax) {
      const reason = `slow consumer: ${this.writer.pendingBytes} bytes pending (limit ${this.pendingBytesMax})`;
      this.server.logClose(this, reason);
      this.destroy(reason);
      return false;
    }
    return true;
  }

  /** Flushes what is queued, ends the socket, destroys it after a short grace. Idempotent. */
  close(reason: string): void {
    if (this._closed) return;
    this.markClosed(reason);
    this.writer.flush();
    this.writer.detach();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  /** Drops the socket at once (no flush). */
  destroy(reason: string): void {
    if (!this._closed) this.markClosed(reason);
    this.writer.detach();
    this.socket.destroy();
  }

  /** Runs `fn(reason)` once when the connection closes (at once if already closed). */
  onClose(fn: (reason: string) => void): void {
    if (this._closed) fn(this.closeReason);
    else this.closeListeners.push(fn);
  }

  /** @internal: called by each sweep; true when a frame has been begun and no byte of it came
   *  for `timeoutMs` while the server was reading. */
  stalled(now: number, timeoutMs: number): boolean {
    if (this.decoder.pendingBytes === 0 || this.readPaused || this.reads !== this.readsAtSweep) {
      this.readsAtSweep = this.reads;
      this.stalledSince = -1;
      return false;
    }
    if (this.stalledSince < 0) this.stalledSince = now;
    return now - this.stalledSince >= timeoutMs;
  }

  /** @internal: still stalled since the sweep that found it so (no read came in between). */
  stillStalled(): boolean {
    return this.stalledSince >= 0 && this.reads === this.readsAtSweep && this.decoder.pendingBytes > 0 && !this.readPaused;
  }

  /** @internal: the socket closed (by us or by the peer). */
  markClosed(reason: string): void {
    if (this._closed) return;
    this._closed = true;
    this.closeReason = reason;
    this.server.forget(this, reason);
    for (const fn of this.closeListeners.splice(0)) {
      try {
        fn(reason);
      } catch {
        // a listener's failure must not stop the others
      }
    }
  }
}

interface AddressEntry {
  count: number;
  /** This address's connections waiting for their first frame, oldest first. */
  readonly awaiting: Set<ServerConnection>;
}

export class Server {
  private readonly conns = new Set<ServerConnection>();
  /** Connections waiting for their first frame, oldest first (a Set keeps insertion order). */
  private readonly awaitingFirstFrame = new Set<ServerConnection>();
  /** One entry per remote address with a connection: at most connectionsMax entries. */
  private readonly byAddress = new Map<string, AddressEntry>();
  private readonly log: LogFn;
  private readonly warnings: WarningSummary;
  private readonly connectionsMax: number;
  private readonly connectionsPerAddressMax: number;
  private readonly firstFrameTimeoutMs: number;
  private readonly sweepTimer: NodeJS.Timeout;
  private closing: Promise<void> | null = null;

  /** @internal: use listen(). */
  constructor(
    private readonly netServer: net.Server,
    private readonly options: ServerOptions,
    private readonly handler: FrameHandler,
  ) {
    this.log = options.log ?? (() => {});
    this.connectionsMax = positiveInteger('connectionsMax', options.connectionsMax ?? CONNECTIONS_MAX);
    this.connectionsPerAddressMax = positiveInteger('connectionsPerAddressMax', options.connectionsPerAddressMax ?? CONNECTIONS_PER_ADDRESS_MAX);
    this.firstFrameTimeoutMs = positiveInteger('firstFrameTimeoutMs', options.firstFrameTimeoutMs ?? FIRST_FRAME_TIMEOUT_MS);
    this.warnings = new WarningSummary({
      log: this.log,
      msg: 'connections refused or dropped',
      intervalMs: positiveInteger('warningIntervalMs', options.warningIntervalMs ?? CONNECTION_WARNING_INTERVAL_MS),
    });
    // A sweep every quarter of the timeout: a silent connection is closed at most that late.
    this.sweepTimer = setInterval(() => this.sweep(), Math.min(SWEEP_INTERVAL_MS_MAX, Math.max(1, Math.floor(this.firstFrameTimeoutMs / 4))));
    this.sweepTimer.unref();
    netServer.on('connection', (socket) => this.accept(socket));
    netServer.on('error', (err) => this.log('error', 'server error', { err: err.message }));
  }

  get host(): string {
    const a = this.netServer.address();
    return typeof a === 'object' && a ? a.address : this.options.host;
  }

  get port(): number {
    const a = this.netServer.address();
    return typeof a === 'object' && a ? a.port : this.options.port;
  }

  /** host:port actually listened on. */
  get addr(): string {
    return `${this.host}:${this.port}`;
  }

  get connections(): ReadonlySet<ServerConnection> {
    return this.conns;
  }

  /** Stops listening and destroys every connection (their clients see CONNECTION_LOST at once). */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    clearInterval(this.sweepTimer);
    this.closing = new Promise<void>((resolve) => {
      this.netServer.close(() => resolve());
      for (const conn of [...this.conns]) conn.destroy('server closing');
      this.warnings.close();
    });
    return this.closing;
  }

  /** @internal */
  logClose(conn: ServerConnection, reason: string, fields: Record<string, unknown> = {}): void {
    this.log('warn', 'closing connection', { remote: conn.remoteAddress, reason, ...fields });
  }

  /** @internal */
  forget(conn: ServerConnection, reason: string): void {
    if (!this.conns.delete(conn)) return;
    this.awaitingFirstFrame.delete(conn);
    const entry = this.byAddress.get(conn.remoteHost);
    if (entry !== undefined) {
      entry.awaiting.delete(conn);
      if (--entry.count === 0) this.byAddress.delete(conn.remoteHost);
    }
    this.options.onDisconnect?.(conn, reason);
  }

  /** Connections from `address`, and how many of them wait for their first frame (for tests). */
  connectionsFrom(address: string): { count: number; awaitingFirstFrame: number } {
    const entry = this.byAddress.get(address);
    return { count: entry?.count ?? 0, awaitingFirstFrame: entry?.awaiting.size ?? 0 };
  }

  /**
   * Makes room for a newcomer from `address`, evicting the oldest connection still waiting for
   * its first frame where a limit is reached (of that address for the per-address limit, of any
   * for the total one); returns why the newcomer is refused when there is none to evict.
   */
  private admit(address: string): AdmissionEvent | null {
    if (this.closing) return 'closing';
    const entry = this.byAddress.get(address);
    if (entry !== undefined && entry.count >= this.connectionsPerAddressMax) {
      const victim = firstOf(entry.awaiting);
      if (victim === undefined) return 'addressLimit';
      this.drop(victim, 'evicted', `evicted by a newcomer: ${address} is at its limit of ${this.connectionsPerAddressMax} connections and this one sent no frame yet`);
    }
    if (this.conns.size >= this.connectionsMax) {
      const victim = firstOf(this.awaitingFirstFrame);
      if (victim === undefined) return 'connectionLimit';
      this.drop(victim, 'evicted', `evicted by a newcomer: the limit of ${this.connectionsMax} connections is reached and this one sent no frame yet`);
    }
    return null;
  }

  /** Closes `conn` under an admission rule: counted in the summary, not one log line each. */
  private drop(conn: ServerConnection, event: AdmissionEvent, reason: string): void {
    this.warnings.note(event, conn.remoteHost, { reason });
    conn.destroy(reason);
  }

  /** The connection delivered its first frame: it is established, no longer evictable. */
  private established(conn: ServerConnection): void {
    this.awaitingFirstFrame.delete(conn);
    this.byAddress.get(conn.remoteHost)?.awaiting.delete(conn);
  }

  /** Closes connections whose first frame is overdue and those stalled in the middle of a frame. */
  private sweep(): void {
    const now = Date.now();
    const timeoutMs = this.firstFrameTimeoutMs;
    const overdue: ServerConnection[] = [];
    for (const conn of this.awaitingFirstFrame) {
      if (now - conn.acceptedAt < timeoutMs) break; // in accept order: the rest are younger
      overdue.push(conn);
    }
    const stalled: ServerConnection[] = [];
    for (const conn of this.conns) if (conn.stats.framesReceived > 0 && conn.stalled(now, timeoutMs)) stalled.push(conn);
    if (overdue.length === 0 && stalled.length === 0) return;
    // Decided after the poll phase, so bytes that came in while this process was busy (a long GC,
    // a slow turn) are read first and do not count as silence.
    setImmediate(() => {
      for (const conn of overdue) {
        if (!conn.closed && conn.stats.framesReceived === 0) this.drop(conn, 'firstFrameTimeout', `no complete frame within ${timeoutMs} ms of connecting`);
      }
      for (const conn of stalled) {
        if (!conn.closed && conn.stillStalled()) this.drop(conn, 'frameStalled', `a frame begun and no byte of it for ${timeoutMs} ms`);
      }
    });
  }

  private accept(socket: Socket): void {
    const address = socket.remoteAddress;
    socket.on('error', () => {});
    if (address === undefined) {
      // Reset before we got to it: nothing to serve, nothing to count.
      socket.destroy();
      return;
    }
    const refusal = this.admit(address);
    if (refusal !== null) {
      const reason =
        refusal === 'closing' ? 'server closing'
        : refusal === 'addressLimit' ? `${address} has ${this.connectionsPerAddressMax} connections, all established (limit per address)`
        : `connection limit ${this.connectionsMax} reached, all established`;
      this.warnings.note(refusal, address, { remote: `${address}:${socket.remotePort}`, reason });
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const frameBytesMax = this.options.frameBytesMax ?? FRAME_BYTES_MAX;
    const conn = new ServerConnection(
      socket,
      this,
      frameBytesMax,
      this.options.connPendingBytesMax ?? CONN_PENDING_BYTES_MAX,
    );
    this.conns.add(conn);
    this.awaitingFirstFrame.add(conn);
    let entry = this.byAddress.get(address);
    if (entry === undefined) this.byAddress.set(address, (entry = { count: 0, awaiting: new Set() }));
    entry.count++;
    entry.awaiting.add(conn);
    const decoder = conn.decoder;
    const highBytes = this.options.connPendingBytesHigh ?? CONN_PENDING_BYTES_HIGH;
    let lastError: Error | undefined;
    let checkScheduled = false;

    const fail = (reason: string, fields: Record<string, unknown> = {}) => {
      if (conn.closed) return;
      this.logClose(conn, reason, fields);
      conn.destroy(reason);
    };
    const onFrame = (frame: Frame) => {
      if (conn.stats.framesReceived++ === 0) this.established(conn);
      if (this.options.frameTypes && !this.options.frameTypes.has(frame.type)) {
        throw new FrameError('unknown-type', `unknown frame type ${JSON.stringify(frame.type).slice(0, 64)}`);
      }
      const result = this.handler(frame, conn);
      if (result && typeof (result as Promise<void>).then === 'function') {
        (result as Promise<void>).then(undefined, (err: unknown) =>
          fail('handler failed', { err: err instanceof Error ? err.message : String(err), type: frame.type }),
        );
      }
    };
    // Backpressure: a peer that does not read its responses stops being read.
    const checkPressure = () => {
      checkScheduled = false;
      if (!conn.closed && socket.writableLength > highBytes && !socket.isPaused()) {
        socket.pause();
        conn.readPaused = true;
        socket.once('drain', () => {
          conn.readPaused = false;
          socket.resume();
        });
      }
    };

    socket.on('data', (chunk: Buffer) => {
      if (conn.closed) return;
      conn.reads++;
      try {
        for (const frame of decoder.push(chunk)) {
          onFrame(frame);
          if (conn.closed) return;
        }
      } catch (err) {
        if (err instanceof FrameError) fail(`${err.reason} frame: ${err.message}`);
        else fail('handler failed', { err: err instanceof Error ? err.message : String(err) });
        return;
      }
      if (!checkScheduled) {
        checkScheduled = true;
        setImmediate(checkPressure);
      }
    });
    socket.on('error', (err) => {
      lastError = err;
    });
    socket.on('close', () => {
      conn.markClosed(lastError ? `socket error: ${lastError.message}` : 'peer closed');
    });
    this.options.onConnection?.(conn);
  }
}

function firstOf<T>(set: ReadonlySet<T>): T | undefined {
  for (const x of set) return x;
  return undefined;
}

function positiveInteger(name: string, n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new TypeError(`${name} must be a positive integer, got ${String(n)}`);
  return n;
}

/** Starts a frame server on host:port (port 0: any free port). */
export function listen(options: ServerOptions, handler: FrameHandler): Promise<Server> {
  return new Promise((resolve, reject) => {
    const netServer = net.createServer({ noDelay: true });
    const server = new Server(netServer, options, handler);
    const onError = (err: Error) => reject(err);
    netServer.once('error', onError);
    netServer.listen({ port: options.port, host: options.host }, () => {
      netServer.off('error', onError);
      resolve(server);
    });
  });
}
