// Framing shared by clients, the broker server and replica peers: a 4-byte big-endian length,
// then one msgpackr-encoded frame object `{type: string, id: number, ...}`. Byte fields
// (Uint8Array / Buffer) travel as msgpack `bin` and decode as Buffers that are views of the
// received bytes (no copy) when a frame arrives inside one socket chunk.
import { Packr, RESERVE_START_SPACE } from 'msgpackr';
import { FRAME_BYTES_MAX } from '../protocol/index.ts';
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

/** Size of a read buffer shared by consecutive small frames. */
const READ_SLAB_BYTES = 64 * 1024;
/** Most bytes set aside for a frame before its bytes arrive (a larger one grows as they do). */
export const BIG_FRAME_FIRST_BYTES = 1024 * 1024;
/** Room a read is given while the next frame's size is unknown. Small, so that little of a big
 *  frame lands in a slab before its header tells its size (and has to be moved once). */
const READ_UNKNOWN_BYTES = 16 * 1024;

/**
 * Incremental decoder. Frames come out as views of the bytes they arrived in: a frame up to
 * BIG_FRAME_FIRST_BYTES is copied at most once, and only its first read's worth; a larger one is
 * copied again each time its buffer doubles (at most its own size in all).
 *
 * Two ways in:
 * - `readRegion()` / `filled(n)`: the socket reads straight into the decoder's memory (Node's
 *   `onread` option). A frame of known size that does not fit the current buffer moves once into
 *   a buffer of its own size (or a fresh slab, for a small one) and the rest of it is read in
 *   place behind what arrived, so a frame spanning many reads is still one view, never
 *   reassembled; small frames share 64 KiB slabs. A frame over BIG_FRAME_FIRST_BYTES starts in a
 *   buffer of that size that doubles as its bytes arrive: memory follows what was received, not
 *   what a length prefix claims.
 * - `push(chunk)`: for chunks read elsewhere (server sockets). Frames that lie whole in the chunk
 *   are views of it; the rest of a frame begun in an earlier chunk, or one the chunk does not
 *   finish, is copied into the decoder's buffer as if read there.
 *
 * An oversized length prefix is refused as soon as its 4 bytes are in, before any of the body is
 * buffered. After an error the decoder is poisoned (the stream has lost framing): further pushes
 * throw the same error.
 */
export class FrameDecoder {
  readonly frameBytesMax: number;
  /** Bytes [start, end) of buf are received and not yet decoded: a part of one frame. */
  private buf: Buffer = Buffer.alloc(0);
  private start = 0;
  private end = 0;
  private failure: FrameError | null = null;

  constructor(options: FrameDecoderOptions = {}) {
    this.frameBytesMax = options.frameBytesMax ?? FRAME_BYTES_MAX;
  }

  /** Bytes held waiting for the rest of a frame (at most one frame, bounded by frameBytesMax). */
  get pendingBytes(): number {
    return this.end - this.start;
  }

  /**
   * Where the next read should put its bytes; then call filled(n). The region lies right behind
   * the pending part of a frame, so the frame stays contiguous. Never empty.
   */
  readRegion(): Buffer {
    if (this.failure) return Buffer.allocUnsafe(1);
    const pending = this.end - this.start;
    const frameBytes = this.pendingFrameBytes();
    const want = frameBytes < 0 ? READ_UNKNOWN_BYTES : Math.max(frameBytes - pending, READ_UNKNOWN_BYTES);
    let move: boolean;
    if (frameBytes < 0) {
      move = this.buf.length - this.end < READ_UNKNOWN_BYTES;
    } else {
      // Moved when it does not fit where it is: at once into a buffer of its size (up to
      // BIG_FRAME_FIRST_BYTES); a larger one grows by doubling as its bytes arrive, so a length
      // prefix alone (up to frameBytesMax, per connection) never reserves more than that.
      const fits = this.buf.length - this.start >= frameBytes;
      move = !fits && (this.start > 0 || this.end === this.buf.length || this.buf.length < Math.min(frameBytes, BIG_FRAME_FIRST_BYTES));
    }
    if (move) {
      const size =
        frameBytes <= READ_SLAB_BYTES ? READ_SLAB_BYTES : Math.min(frameBytes, Math.max(BIG_FRAME_FIRST_BYTES, 2 * pending));
      const next = Buffer.allocUnsafeSlow(size);
      this.buf.copy(next, 0, this.start, this.end);
      this.buf = next;
      this.start = 0;
      this.end = pending;
    }
    return this.buf.subarray(this.end, Math.min(this.buf.length, this.end + want));
  }

  /** `n` bytes were read into the region readRegion() returned last; returns every frame they
   *  complete, in order. Throws FrameError. */
  filled(n: number): Frame[] {
    if (this.failure) throw this.failure;
    if (!Number.isInteger(n) || n < 0 || this.end + n > this.buf.length) throw new RangeError(`FrameDecoder.filled(${n}): beyond the read region`);
    this.end += n;
    const frames: Frame[] = [];
    try {
      this.start = this.parse(this.buf, this.start, this.end, frames);
    } catch (err) {
      throw this.poison(err);
    }
    return frames;
  }

  /** Adds a chunk read elsewhere; returns every frame completed by it, in order. Throws FrameError. */
  push(chunk: Buffer): Frame[] {
    if (this.failure) throw this.failure;
    const frames: Frame[] = [];
    try {
      let off = 0;
      while (off < chunk.length) {
        // Nothing pending: the frames that lie whole in the chunk are views of it.
        if (this.end === this.start) off = this.parse(chunk, off, chunk.length, frames);
        if (off === chunk.length) break;
        // A frame started earlier (or the chunk's incomplete last one): copied as if read here.
        // Only up to the end of that frame (or of its header), so what follows it is a view again.
        const region = this.readRegion();
        const frameBytes = this.pendingFrameBytes();
        const need = (frameBytes < 0 ? FRAME_HEADER_BYTES : frameBytes) - (this.end - this.start);
        const n = Math.min(region.length, chunk.length - off, need);
        chunk.copy(region, 0, off, off + n);
        off += n;
        this.end += n;
        this.start = this.parse(this.buf, this.start, this.end, frames);
      }
    } catch (err) {
      throw this.poison(err);
    }
    return frames;
  }

  /** Size (header included) of the frame whose first bytes are pending, or -1 before its header is in. */
  private pendingFrameBytes(): number {
    return this.end - this.start >= FRAME_HEADER_BYTES ? FRAME_HEADER_BYTES + (this.buf.readUInt32BE(this.start) & ~BLOBS_FLAG) : -1;
  }

  /** The stream has lost framing: every later call fails with this error. */
  private poison(err: unknown): FrameError {
    this.failure = err instanceof FrameError ? err : new FrameError('malformed', String(err), err);
    this.buf = Buffer.alloc(0);
    this.start = this.end = 0;
    return this.failure;
  }

  /** Decodes the complete frames of b[pos, to) into `out` (views of b); returns where the first
   *  incomplete one starts. Throws FrameError for an oversized length as soon as it is in. */
  private parse(b: Buffer, pos: number, to: number, out: Frame[]): number {
    while (to - pos >= FRAME_HEADER_BYTES) {
      const prefix = b.readUInt32BE(pos);
      const length = (prefix & ~BLOBS_FLAG) >>> 0;
      if (length > this.frameBytesMax) {
        throw new FrameError('oversized', `frame length ${length} exceeds the limit of ${this.frameBytesMax} bytes`);
      }
      if (to - pos - FRAME_HEADER_BYTES < length) break;
      const body = b.subarray(pos + FRAME_HEADER_BYTES, pos + FRAME_HEADER_BYTES + length);
      pos += FRAME_HEADER_BYTES + length;
      out.push((prefix & BLOBS_FLAG) !== 0 ? decodeFrameWithBlobs(body) : decodeFrameBody(body));
    }
    return pos;
  }
}
