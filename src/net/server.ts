// The frame server used by the broker (client listener) and by replicas (peer listener).
// Accepts connections, decodes frames, hands each to `handler(frame, conn)`. A malformed,
// oversized or unknown frame, or a handler that throws, closes that one connection with a
// logged reason; nothing a peer sends can crash the process.
import net from 'node:net';
import type { Socket } from 'node:net';
import { FRAME_BYTES_MAX } from '../broker/protocol.ts';
import { FrameError } from './errors.ts';
import { FrameDecoder, type Frame } from './frame-codec.ts';
import { FrameWriter, type FrameWriterStats } from './frame-writer.ts';

/** Connections one server accepts at once; more are refused (destroyed) with a log line. */
export const CONNECTIONS_MAX = 1024;
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

export class ServerConnection {
  readonly id = nextConnectionId++;
  /** host:port of the remote end. */
  readonly remoteAddress: string;
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
    this.remoteAddress = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
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

export class Server {
  private readonly conns = new Set<ServerConnection>();
  private readonly log: LogFn;
  private closing: Promise<void> | null = null;

  /** @internal: use listen(). */
  constructor(
    private readonly netServer: net.Server,
    private readonly options: ServerOptions,
    private readonly handler: FrameHandler,
  ) {
    this.log = options.log ?? (() => {});
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
    this.closing = new Promise<void>((resolve) => {
      this.netServer.close(() => resolve());
      for (const conn of [...this.conns]) conn.destroy('server closing');
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
    this.options.onDisconnect?.(conn, reason);
  }

  private accept(socket: Socket): void {
    const connectionsMax = this.options.connectionsMax ?? CONNECTIONS_MAX;
    if (this.closing || this.conns.size >= connectionsMax) {
      this.log('warn', 'connection refused', {
        remote: `${socket.remoteAddress}:${socket.remotePort}`,
        reason: this.closing ? 'server closing' : `connection limit ${connectionsMax} reached`,
      });
      socket.on('error', () => {});
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
    const decoder = new FrameDecoder({ frameBytesMax });
    const highBytes = this.options.connPendingBytesHigh ?? CONN_PENDING_BYTES_HIGH;
    let lastError: Error | undefined;
    let checkScheduled = false;

    const fail = (reason: string, fields: Record<string, unknown> = {}) => {
      if (conn.closed) return;
      this.logClose(conn, reason, fields);
      conn.destroy(reason);
    };
    const onFrame = (frame: Frame) => {
      conn.stats.framesReceived++;
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
        socket.once('drain', () => socket.resume());
      }
    };

    socket.on('data', (chunk: Buffer) => {
      if (conn.closed) return;
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
