// Coalesced frame writes: frames enqueued during one turn of the event loop leave together
// (flushed from setImmediate) in one corked write, which libuv turns into one writev: 256
// concurrent requests cost one syscall, not 256, and no frame is copied into a joint buffer.
import type { Socket } from 'node:net';
import { FRAME_BYTES_MAX } from '../protocol/index.ts';
import { encodeFrame, encodeFrameWithBlobs } from './frame-codec.ts';

/** Default bound on bytes queued but not yet flushed to the kernel (ours + the socket's). */
export const SEND_QUEUE_BYTES_MAX = 64 * 1024 * 1024;

export interface FrameWriterStats {
  /** Frames accepted into the queue. */
  framesQueued: number;
  /** socket.write calls made (each one carries every frame queued since the last). */
  writes: number;
  bytesWritten: number;
}

export class FrameWriter {
  private parts: Uint8Array[] = [];
  private partsBytes = 0;
  private flushScheduled = false;
  private detached = false;

  /** `stats` may be shared with an owner that outlives this socket (counters add up). */
  constructor(
    private readonly socket: Socket,
    private readonly frameBytesMax: number = FRAME_BYTES_MAX,
    private readonly queueBytesMax: number = SEND_QUEUE_BYTES_MAX,
    readonly stats: FrameWriterStats = { framesQueued: 0, writes: 0, bytesWritten: 0 },
  ) {}

  /** Bytes waiting: queued here plus buffered in the socket. */
  get pendingBytes(): number {
    return this.partsBytes + this.socket.writableLength;
  }

  /** Packs and queues `frame`. Throws FrameError('oversized') for a frame over the limit
   *  (a programmer or caller error, not a transport state). Returns false without queueing
   *  when the queue is full or the writer is detached. */
  enqueue(frame: object): boolean {
    return this.enqueueParts([encodeFrame(frame, this.frameBytesMax)]);
  }

  /** Like enqueue, for a frame followed by raw blobs (see encodeFrameWithBlobs): the blobs are
   *  written as they are, not copied. */
  enqueueWithBlobs(frame: object, blobs: readonly Uint8Array[]): boolean {
    return this.enqueueParts(encodeFrameWithBlobs(frame, blobs, this.frameBytesMax));
  }

  /** Queues the encoded parts of one frame. */
  private enqueueParts(parts: readonly Uint8Array[]): boolean {
    if (this.detached || this.socket.destroyed) return false;
    let bytes = 0;
    for (const p of parts) bytes += p.byteLength;
    if (this.pendingBytes + bytes > this.queueBytesMax) return false;
    for (const p of parts) this.parts.push(p);
    this.partsBytes += bytes;
    this.stats.framesQueued++;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    return true;
  }

  /** Writes everything queued now: one write, or one corked batch that leaves as one writev. */
  flush(): void {
    this.flushScheduled = false;
    if (this.parts.length === 0 || this.detached || this.socket.destroyed) return;
    const parts = this.parts;
    this.stats.writes++;
    this.stats.bytesWritten += this.partsBytes;
    this.parts = [];
    this.partsBytes = 0;
    if (parts.length === 1) {
      this.socket.write(parts[0]!);
      return;
    }
    this.socket.cork();
    for (const part of parts) this.socket.write(part);
    this.socket.uncork();
  }

  /** Drops whatever is queued; later enqueues return false. */
  detach(): void {
    this.detached = true;
    this.parts = [];
    this.partsBytes = 0;
  }
}
