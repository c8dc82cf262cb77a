// Framing shared by clients, the broker server and replica peers: a 4-byte big-endian length,
// then one msgpackr-encoded frame object `{type: string, id: number, ...}`. Byte fields
// (Uint8Array / Buffer) travel as msgpack `bin` and decode as Buffers that are views of the
// received bytes (no copy) when a frame arrives inside one socket chunk.
import { Packr, RESERVE_START_SPACE } from 'msgpackr';
import { FRAME_BYTES_MAX } from '../broker/protocol.ts';
import { FrameError } from './errors.ts';

/** Bytes of the length prefix. */
export const FRAME_HEADER_BYTES = 4;
/** Initial size of msgpackr's shared pack target. */
const PACK_TARGET_BYTES = 4 * 1024 * 1024;

/** The minimal shape every frame has on the wire. */
export interface Frame {
  readonly type: string;
  readonly id: number;
  /** Raw bytes sent after the msgpack part (see encodeFrameWithBlobs); a view of the frame. */
  readonly blobs?: Buffer;
}

/**
 * Set in the length prefix of a frame that carries raw blobs: the body is then a 4-byte
 * big-endian length of the msgpack part, the msgpack part, and the blobs back to back. Bulk
 * bytes (replicated entry bodies) travel this way without being copied into msgpack on the
 * sender: the blobs go to the socket as they are, in the same writev.
 */
const BLOBS_FLAG = 0x80000000;
const BLOBS_HEADER_BYTES = 4;

// Plain maps, no record extensions: robust against any peer, and decodes to plain objects.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });
// msgpackr packs into one shared target and hands out views of it; when a frame does not fit it
// allocates a new target four times the frame's size. Starting with a large target keeps those
// reallocations (each one external memory the GC must account for) rare on replication traffic.
packr.useBuffer(Buffer.allocUnsafeSlow(PACK_TARGET_BYTES));

/**
 * Encodes `frame` into one Buffer: the 4-byte length prefix and the msgpackr body, packed in
 * place (msgpackr reserves the prefix's room), so a frame is never copied after packing. The
 * result is a view of msgpackr's target, never overwritten by later packs. Throws FrameError
 * ('oversized') if the encoded body exceeds `frameBytesMax`.
 */
export function encodeFrame(frame: object, frameBytesMax: number = FRAME_BYTES_MAX): Buffer {
  const out = packr.pack(frame, RESERVE_START_SPACE | FRAME_HEADER_BYTES);
  const bodyBytes = out.length - FRAME_HEADER_BYTES;
  checkEncodedSize(bodyBytes, frameBytesMax);
  out.writeUInt32BE(bodyBytes, 0);
  return out;
}

/** Encodes `frame` followed by `blobs` (which are not copied): returns the parts to write in
 *  order. The receiver gets the blobs as one Buffer in `frame.blobs`. Throws FrameError
 *  ('oversized') if the whole body exceeds `frameBytesMax`. */
export function encodeFrameWithBlobs(frame: object, blobs: readonly Uint8Array[], frameBytesMax: number = FRAME_BYTES_MAX): Uint8Array[] {
  const head = packr.pack(frame, RESERVE_START_SPACE | (FRAME_HEADER_BYTES + BLOBS_HEADER_BYTES));
  const packedBytes = head.length - FRAME_HEADER_BYTES - BLOBS_HEADER_BYTES;
  let blobBytes = 0;
  for (const b of blobs) blobBytes += b.byteLength;
  const bodyBytes = BLOBS_HEADER_BYTES + packedBytes + blobBytes;
  checkEncodedSize(bodyBytes, frameBytesMax);
  head.writeUInt32BE((bodyBytes | BLOBS_FLAG) >>> 0, 0);
  head.writeUInt32BE(packedBytes, FRAME_HEADER_BYTES);
  const parts: Uint8Array[] = [head];
  for (const b of blobs) if (b.byteLength > 0) parts.push(b);
  return parts;
}

export function checkEncodedSize(bytes: number, frameBytesMax: number): void {
  if (bytes > frameBytesMax) {
    throw new FrameError('oversized', `frame of ${bytes} bytes exceeds the limit of ${frameBytesMax} bytes`);
  }
}

/** Splits the body of a frame sent with blobs and decodes its msgpack part. */
function decodeFrameWithBlobs(body: Buffer): Frame {
  if (body.length < BLOBS_HEADER_BYTES) throw new FrameError('malformed', 'frame with blobs is too short');
  const packedBytes = body.readUInt32BE(0);
  if (packedBytes > body.length - BLOBS_HEADER_BYTES) {
    throw new FrameError('malformed', `frame with blobs: msgpack part of ${packedBytes} bytes in a body of ${body.length}`);
  }
  const frame = decodeFrameBody(body.subarray(BLOBS_HEADER_BYTES, BLOBS_HEADER_BYTES + packedBytes));
  (frame as { blobs?: Buffer }).blobs = body.subarray(BLOBS_HEADER_BYTES + packedBytes);
  return frame;
}

/** Unpacks one frame body (without the length prefix) and checks its shape. */
export function decodeFrameBody(bytes: Buffer): Frame {
  let value: unknown;
  try {
    value = packr.unpack(bytes);
  } catch (err) {
    throw new FrameError('malformed', `frame is not valid msgpack: ${(err as Error)?.message ?? String(err)}`, err);
  }
  if (!isFrameShape(value)) {
    throw new FrameError('malformed', 'frame is not an object with a string `type` and a numeric `id`');
  }
  return value;
}

function isFrameShape(value: unknown): value is Frame {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Buffer.isBuffer(value)) return false;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  const v = value as { type?: unknown; id?: unknown };
  return typeof v.type === 'string' && typeof v.id === 'number' && Number.isFinite(v.id);
}

export interface FrameDecoderOptions {
  /** Largest accepted frame (length prefix excluded). */
  readonly frameBytesMax?: number;
}

/**
 * Incremental decoder: `push()` arbitrary socket chunks, get complete frames back.
 * Buffers a list of chunks (no repeated concatenation): each byte is copied at most once,
 * and only when a frame spans chunks. An oversized length prefix is refused as soon as the
 * 4 header bytes are in, before any of its body is buffered. After an error the decoder is
 * poisoned (the stream has lost framing): further pushes throw the same error.
 */
export class FrameDecoder {
  readonly frameBytesMax: number;
  private readonly chunks: Buffer[] = [];
  /** Read position inside chunks[0]. */
  private offset = 0;
  /** Unconsumed bytes over all chunks. */
  private bytesBuffered = 0;
  /** Body length of the frame being assembled, or -1 while waiting for a header. */
  private bodyBytes = -1;
  /** The frame being assembled carries blobs. */
  private withBlobs = false;
  private failure: FrameError | null = null;

  constructor(options: FrameDecoderOptions = {}) {
    this.frameBytesMax = options.frameBytesMax ?? FRAME_BYTES_MAX;
  }

  /** Bytes held waiting for the rest of a frame (bounded by frameBytesMax + one chunk). */
  get pendingBytes(): number {
    return this.bytesBuffered;
  }

  /** Adds a chunk; returns every frame completed by it, in order. Throws FrameError. */
  push(chunk: Buffer): Frame[] {
    if (this.failure) throw this.failure;
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.bytesBuffered += chunk.length;
    }
    const frames: Frame[] = [];
    try {
      for (;;) {
        if (this.bodyBytes < 0) {
          if (this.bytesBuffered < FRAME_HEADER_BYTES) break;
          const prefix = this.take(FRAME_HEADER_BYTES).readUInt32BE(0);
          this.withBlobs = (prefix & BLOBS_FLAG) !== 0;
          const length = prefix & ~BLOBS_FLAG;
          if (length > this.frameBytesMax) {
            throw new FrameError('oversized', `frame length ${length} exceeds the limit of ${this.frameBytesMax} bytes`);
          }
          this.bodyBytes = length;
        }
        if (this.bytesBuffered < this.bodyBytes) break;
        const body = this.take(this.bodyBytes);
        this.bodyBytes = -1;
        frames.push(this.withBlobs ? decodeFrameWithBlobs(body) : decodeFrameBody(body));
      }
    } catch (err) {
      this.failure = err instanceof FrameError ? err : new FrameError('malformed', String(err), err);
      this.chunks.length = 0;
      this.bytesBuffered = 0;
      throw this.failure;
    }
    return frames;
  }

  /** Removes `n` buffered bytes (n <= bytesBuffered): a view when they sit in one chunk. */
  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (n === 0) return Buffer.alloc(0);
    if (first !== undefined && first.length - this.offset >= n) {
      const out = first.subarray(this.offset, this.offset + n);
      this.advance(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0]!;
      const count = Math.min(n - filled, chunk.length - this.offset);
      chunk.copy(out, filled, this.offset, this.offset + count);
      filled += count;
      this.advance(count);
    }
    return out;
  }

  private advance(n: number): void {
    this.offset += n;
    this.bytesBuffered -= n;
    if (this.offset === this.chunks[0]!.length) {
      this.chunks.shift();
      this.offset = 0;
    }
  }
}
