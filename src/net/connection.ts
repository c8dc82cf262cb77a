// A client-side connection to one host:port: many requests in flight matched by id,
// coalesced writes, per-request timeouts, reconnect with exponential backoff, and
// fire-and-forget `send()` for peer (Raft) traffic.
//
// Policies (named constants below):
// - In-flight limit: at most `inFlightMax` requests are on the wire; more wait in a FIFO
//   (their timeout keeps running). More than `waitingMax` waiting requests fail at once with
//   OVERLOADED. A send queue above `sendQueueBytesMax` also fails the request with OVERLOADED.
// - Reconnect: 'lazy' (default, for clients) connects on the next use; 'auto' (for peers)
//   reconnects by itself after every failure until close(). Either way attempts are spaced by
//   exponential backoff with jitter (`backoffMsMin` doubling to `backoffMsMax`); a request made
//   while waiting for the next attempt waits for it. After a connection that was up drops, the
//   first attempt comes after ~backoffMsMin.
// - When a connect attempt fails, every request waiting for it fails with CONNECTION_LOST (so
//   does a request whose timeout expires while the connection is still down);
//   when an established connection drops, every pending request fails with CONNECTION_LOST.
//   A request that was written may or may not have been executed (unknown outcome).
// - `onDown(reason)` fires synchronously from the socket's close: on every failed attempt
//   (refused, unreachable, connect timeout) and when an established connection ends or resets.
//   `onUp()` fires when a connection is established (after the `hello` frame is queued).
import net from 'node:net';
import type { Socket } from 'node:net';
import { FRAME_BYTES_MAX, type ErrorCode, RaftmqError, errorFromResponse, type ErrorResponse } from '../protocol/index.ts';
import { FrameDecoder, type Frame } from './frame-codec.ts';
import { FrameWriter, SEND_QUEUE_BYTES_MAX, type FrameWriterStats } from './frame-writer.ts';
import { backoffMs } from './util.ts';

export const REQUEST_TIMEOUT_MS_DEFAULT = 3000;
export const CONNECT_TIMEOUT_MS_DEFAULT = 2000;
/** Requests on the wire at once on one connection. */
export const IN_FLIGHT_MAX = 4096;
/** Requests waiting for a connection or an in-flight slot. */
export const WAITING_MAX = 65_536;
export const BACKOFF_MS_MIN = 50;
export const BACKOFF_MS_MAX = 2000;
/** Request ids wrap below this (0 is reserved for peer frames, which expect no response). */
const REQUEST_ID_MAX = 2 ** 31 - 1;

export type ReconnectMode = 'lazy' | 'auto';
export type ConnectionState = 'idle' | 'connecting' | 'up' | 'closed';

export interface ConnectionOptions {
  readonly host: string;
  readonly port: number;
  readonly requestTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  readonly inFlightMax?: number;
  readonly waitingMax?: number;
  readonly sendQueueBytesMax?: number;
  readonly frameBytesMax?: number;
  readonly backoffMsMin?: number;
  readonly backoffMsMax?: number;
  readonly reconnect?: ReconnectMode;
  /** A request made while the connection is down and waiting to reconnect (its backoff after a
   *  lost connection or a failed connect) fails at once with CONNECTION_LOST (requestSent false)
   *  instead of waiting for the next attempt: for callers that have somewhere else to go. */
  readonly failFastWhileDown?: boolean;
  /** Built and sent as the first frame of every new connection (peers: PeerHello). */
  readonly hello?: () => object;
  readonly onUp?: () => void;
  readonly onDown?: (reason: string, err?: Error) => void;
  /** Frames that answer no pending request: id 0 (peer traffic). Late responses are dropped. */
  readonly onFrame?: (frame: Frame) => void;
}

export interface RequestOptions {
  readonly timeoutMs?: number;
  /** Raw bytes sent after the frame's msgpack part, not copied (frame-codec.ts); the receiver
   *  gets them as `frame.blobs`. */
  readonly blobs?: readonly Uint8Array[];
}

/** A request frame before the connection assigns its id. */
export type RequestFrameInput = { readonly type: string; readonly id?: undefined; readonly [key: string]: unknown };

export interface ConnectionStats extends FrameWriterStats {
  requests: number;
  responses: number;
  lateResponses: number;
  framesSent: number;
  framesDropped: number;
  writes: number;
  bytesWritten: number;
  connects: number;
  connectFailures: number;
  disconnects: number;
}

interface PendingRequest {
  readonly id: number;
  readonly frame: object;
  readonly blobs: readonly Uint8Array[] | undefined;
  readonly resolve: (frame: Frame) => void;
  readonly reject: (err: unknown) => void;
  timer: NodeJS.Timeout | null;
  sent: boolean;
}

export class Connection {
  readonly host: string;
  readonly port: number;
  readonly stats: ConnectionStats = {
    requests: 0,
    responses: 0,
    lateResponses: 0,
    framesSent: 0,
    framesDropped: 0,
    framesQueued: 0,
    writes: 0,
    bytesWritten: 0,
    connects: 0,
    connectFailures: 0,
    disconnects: 0,
  };
  private readonly opts: Required<
    Pick<
      ConnectionOptions,
      | 'requestTimeoutMs'
      | 'connectTimeoutMs'
      | 'inFlightMax'
      | 'waitingMax'
      | 'sendQueueBytesMax'
      | 'frameBytesMax'
      | 'backoffMsMin'
      | 'backoffMsMax'
      | 'reconnect'
    >
  >;
  private _state: ConnectionState = 'idle';
  private socket: Socket | null = null;
  private writer: FrameWriter | null = null;
  /** Requests written on the current socket, by id. */
  private readonly inFlight = new Map<number, PendingRequest>();
  /** Requests waiting for a connection or a slot, FIFO. */
  private waiting: PendingRequest[] = [];
  private nextId = 1;
  private failureCount = 0;
  private nextAttemptAt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private upWaiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private closedPromise: Promise<void> | null = null;
  private lastDownReason = '';

  constructor(private readonly options: ConnectionOptions) {
    this.host = options.host;
    this.port = options.port;
    this.opts = {
      requestTimeoutMs: options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT,
      connectTimeoutMs: options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS_DEFAULT,
      inFlightMax: options.inFlightMax ?? IN_FLIGHT_MAX,
      waitingMax: options.waitingMax ?? WAITING_MAX,
      sendQueueBytesMax: options.sendQueueBytesMax ?? SEND_QUEUE_BYTES_MAX,
      frameBytesMax: options.frameBytesMax ?? FRAME_BYTES_MAX,
      backoffMsMin: options.backoffMsMin ?? BACKOFF_MS_MIN,
      backoffMsMax: options.backoffMsMax ?? BACKOFF_MS_MAX,
      reconnect: options.reconnect ?? 'lazy',
    };
    if (this.opts.reconnect === 'auto') this.ensureConnecting();
  }

  get addr(): string {
    return `${this.host}:${this.port}`;
  }

  get state(): ConnectionState {
    return this._state;
  }

  get isUp(): boolean {
    return this._state === 'up';
  }

  /** Requests written and not yet answered. */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Connects now if needed; resolves when up, rejects with CONNECTION_LOST if this attempt fails. */
  connect(): Promise<void> {
    if (this._state === 'up') return Promise.resolve();
    if (this._state === 'closed') return Promise.reject(this.closedError());
    return new Promise((resolve, reject) => {
      this.upWaiters.push({ resolve, reject });
      this.ensureConnecting();
    });
  }

  /**
   * Sends `frame` with a fresh id and resolves with the response frame. An `error` response
   * rejects with its RaftmqError; transport failures reject with TIMEOUT, CONNECTION_LOST
   * or OVERLOADED. A frame over the size limit rejects with FrameError (BAD_REQUEST).
   */
  request<R extends Frame = Frame>(frame: RequestFrameInput, options: RequestOptions = {}): Promise<R> {
    if (this._state === 'closed') return Promise.reject(this.closedError());
    if (this.options.failFastWhileDown === true && this._state === 'idle' && this.nextAttemptAt > Date.now()) {
      this.ensureConnecting();
      return Promise.reject(new RaftmqError('CONNECTION_LOST', `${this.lastDownReason || `connection to ${this.addr} is down`}; reconnecting`, { requestSent: false }));
    }
    this.stats.requests++;
    return new Promise<R>((resolve, reject) => {
      const id = this.nextId;
      this.nextId = this.nextId >= REQUEST_ID_MAX ? 1 : this.nextId + 1;
      const req: PendingRequest = {
        id,
        // Not `{ ...frame, id }`: in Node 20's V8 an object spread followed by another property
        // makes every request's objects survive young-generation GCs (docs/performance.md).
        frame: Object.assign({}, frame, { id }),
        blobs: options.blobs,
        resolve: resolve as (f: Frame) => void,
        reject,
        timer: null,
        sent: false,
      };
      const timeoutMs = options.timeoutMs ?? this.opts.requestTimeoutMs;
      req.timer = setTimeout(() => this.timeOut(req, timeoutMs), timeoutMs);
      if (this._state === 'up' && this.waiting.length === 0 && this.inFlight.size < this.opts.inFlightMax) {
        this.dispatch(req);
        return;
      }
      if (this.waiting.length >= this.opts.waitingMax) {
        this.settle(req);
        reject(
          new RaftmqError('OVERLOADED', `${this.waiting.length} requests already waiting on ${this.addr}`, {
            requestSent: false,
          }),
        );
        return;
      }
      this.waiting.push(req);
      if (this._state === 'idle') this.ensureConnecting();
    });
  }

  /** Fire-and-forget (peer traffic, no response expected). Returns false and counts a drop
   *  when not connected or the send queue is full; a lazy idle connection starts connecting. */
  send(frame: object, blobs?: readonly Uint8Array[]): boolean {
    const queued = this._state === 'up' && (blobs === undefined ? this.writer!.enqueue(frame) : this.writer!.enqueueWithBlobs(frame, blobs));
    if (queued) {
      this.stats.framesSent++;
      return true;
    }
    this.stats.framesDropped++;
    if (this._state === 'idle') this.ensureConnecting();
    return false;
  }

  /** Fails everything pending with CONNECTION_LOST, flushes nothing more, closes the socket. */
  close(): Promise<void> {
    if (this.closedPromise) return this.closedPromise;
    this._state = 'closed';
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.failAll('CONNECTION_LOST', `connection to ${this.addr} is closed`);
    const socket = this.socket;
    this.socket = null;
    this.writer?.detach();
    this.writer = null;
    this.closedPromise = new Promise<void>((resolve) => {
      if (!socket || socket.destroyed) return resolve();
      socket.once('close', () => resolve());
      socket.destroy();
    });
    return this.closedPromise;
  }

  // ---- internals ----------------------------------------------------------------------

  private closedError(): RaftmqError {
    return new RaftmqError('CONNECTION_LOST', `connection to ${this.addr} is closed`, { requestSent: false });
  }

  private ensureConnecting(): void {
    if (this._state !== 'idle' || this.retryTimer) return;
    const waitMs = this.nextAttemptAt - Date.now();
    if (waitMs > 0) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        if (this._state === 'idle') this.connectNow();
      }, waitMs);
      return;
    }
    this.connectNow();
  }

  private connectNow(): void {
    this._state = 'connecting';
    const decoder = new FrameDecoder({ frameBytesMax: this.opts.frameBytesMax });
    // Reads land in the decoder's memory (see FrameDecoder.readRegion): no buffer per read.
    const socket = net.connect({
      host: this.host,
      port: this.port,
      onread: {
        buffer: () => decoder.readRegion(),
        callback: (n: number) => {
          onBytes(n);
          return true;
        },
      },
    });
    this.socket = socket;
    socket.setNoDelay(true);
    let wasUp = false;
    let lastError: Error | undefined;
    const connectTimer = setTimeout(() => {
      lastError = new Error(`connect timed out after ${this.opts.connectTimeoutMs} ms`);
      socket.destroy();
    }, this.opts.connectTimeoutMs);

    socket.once('connect', () => {
      clearTimeout(connectTimer);
      if (this.socket !== socket) return;
      wasUp = true;
      this._state = 'up';
      this.failureCount = 0;
      this.stats.connects++;
      this.writer = new FrameWriter(socket, this.opts.frameBytesMax, this.opts.sendQueueBytesMax, this.stats);
      if (this.options.hello) this.writer.enqueue(this.options.hello());
      const waiters = this.upWaiters;
      this.upWaiters = [];
      for (const w of waiters) w.resolve();
      this.options.onUp?.();
      this.pump();
    });
    const onBytes = (n: number) => {
      if (this.socket !== socket) return;
      let frames: Frame[];
      try {
        frames = decoder.filled(n);
      } catch (err) {
        lastError = err as Error;
        socket.destroy();
        return;
      }
      for (const frame of frames) this.onFrame(frame);
      this.pump();
    };
    socket.on('error', (err) => {
      lastError = err;
    });
    socket.once('close', () => {
      clearTimeout(connectTimer);
      if (this.socket !== socket) return; // closed by close(), or superseded
      this.socket = null;
      this.writer?.detach();
      this.writer = null;
      this._state = 'idle';
      const reason = wasUp
        ? `connection to ${this.addr} lost${lastError ? `: ${lastError.message}` : ''}`
        : `connect to ${this.addr} failed${lastError ? `: ${lastError.message}` : ''}`;
      if (wasUp) {
        this.stats.disconnects++;
        this.nextAttemptAt = Date.now() + backoffMs(0, this.opts.backoffMsMin, this.opts.backoffMsMax);
      } else {
        this.stats.connectFailures++;
        this.nextAttemptAt =
          Date.now() + backoffMs(this.failureCount, this.opts.backoffMsMin, this.opts.backoffMsMax);
        this.failureCount++;
      }
      this.lastDownReason = reason;
      this.failAll('CONNECTION_LOST', reason, lastError);
      this.options.onDown?.(reason, lastError);
      if (this.opts.reconnect === 'auto' && this._state === 'idle') this.ensureConnecting();
    });
  }

  private onFrame(frame: Frame): void {
    const req = frame.id === 0 ? undefined : this.inFlight.get(frame.id);
    if (!req) {
      if (frame.id === 0) this.options.onFrame?.(frame);
      else this.stats.lateResponses++;
      return;
    }
    this.inFlight.delete(frame.id);
    this.stats.responses++;
    this.settle(req);
    if (frame.type === 'error') req.reject(errorFromResponse(frame as unknown as ErrorResponse));
    else req.resolve(frame);
  }

  /** Moves waiting requests onto the wire while there are slots. */
  private pump(): void {
    while (this._state === 'up' && this.waiting.length > 0 && this.inFlight.size < this.opts.inFlightMax) {
      this.dispatch(this.waiting.shift()!);
    }
  }

  private dispatch(req: PendingRequest): void {
    let queued: boolean;
    try {
      queued = req.blobs === undefined ? this.writer!.enqueue(req.frame) : this.writer!.enqueueWithBlobs(req.frame, req.blobs);
    } catch (err) {
      this.settle(req);
      req.reject(err);
      return;
    }
    if (!queued) {
      this.settle(req);
      req.reject(new RaftmqError('OVERLOADED', `send queue to ${this.addr} is full`, { requestSent: false }));
      return;
    }
    req.sent = true;
    this.inFlight.set(req.id, req);
  }

  private timeOut(req: PendingRequest, timeoutMs: number): void {
    req.timer = null;
    if (req.sent) this.inFlight.delete(req.id);
    else this.waiting = this.waiting.filter((r) => r !== req);
    if (!req.sent && this._state !== 'up') {
      // It never left: the connection stayed down for the whole timeout.
      req.reject(
        new RaftmqError(
          'CONNECTION_LOST',
          `no connection to ${this.addr} within ${timeoutMs} ms${this.lastDownReason ? ` (${this.lastDownReason})` : ''}`,
          { requestSent: false },
        ),
      );
      return;
    }
    req.reject(
      new RaftmqError(
        'TIMEOUT',
        `request ${req.id} to ${this.addr} timed out after ${timeoutMs} ms (${req.sent ? 'outcome unknown' : 'not sent'})`,
        { requestSent: req.sent },
      ),
    );
  }

  private settle(req: PendingRequest): void {
    if (req.timer) clearTimeout(req.timer);
    req.timer = null;
  }

  /** Rejects every request: those on the wire with an unknown outcome, the rest as not sent. */
  private failAll(code: ErrorCode, reason: string, cause?: Error): void {
    const sentErr = new RaftmqError(code, reason, { requestSent: true, ...(cause ? { cause } : {}) });
    const err = new RaftmqError(code, reason, { requestSent: false, ...(cause ? { cause } : {}) });
    const all = [...this.inFlight.values(), ...this.waiting];
    this.inFlight.clear();
    this.waiting = [];
    for (const req of all) {
      this.settle(req);
      req.reject(req.sent ? sentErr : err);
    }
    const waiters = this.upWaiters;
    this.upWaiters = [];
    for (const w of waiters) w.reject(err);
  }
}
