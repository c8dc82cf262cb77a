// RocketMQ remoting frames: `int32 length | int32 (serializeType << 24 | headerLength) | header |
// body`, big-endian, where `length` counts everything after itself (RemotingCommand.encode).
import {
  REMOTING_FRAME_BYTES_MAX,
  REMOTING_PREFIX_BYTES,
  RemotingDecodeError,
  type DecodedRemotingCommand,
  type RemotingCommand,
} from './command.ts';
import { SerializeType, type SerializeTypeCode } from './codes.ts';
import { decodeJsonHeader, encodeJsonHeader } from './header-json.ts';
import { decodeRocketmqHeader, encodeRocketmqHeader } from './header-rocketmq.ts';

const LENGTH_BYTES = 4;
const HEADER_LENGTH_MASK = 0xffffff;

/** One whole frame for `cmd`, its header in `serializeType` (JSON unless the peer spoke
 *  ROCKETMQ). Throws RangeError if a field does not fit its width or the frame exceeds
 *  REMOTING_FRAME_BYTES_MAX (a caller bounds what it puts in a body before this). */
export function encodeRemotingCommand(cmd: RemotingCommand, serializeType: SerializeTypeCode = SerializeType.JSON): Buffer {
  const header = serializeType === SerializeType.ROCKETMQ ? encodeRocketmqHeader(cmd) : encodeJsonHeader(cmd);
  const bodyBytes = cmd.body?.length ?? 0;
  const frameBytes = REMOTING_PREFIX_BYTES + header.length + bodyBytes;
  if (frameBytes > REMOTING_FRAME_BYTES_MAX) throw new RangeError(`remoting frame of ${frameBytes} bytes exceeds the limit of ${REMOTING_FRAME_BYTES_MAX}`);
  const out = Buffer.allocUnsafe(frameBytes);
  out.writeInt32BE(frameBytes - LENGTH_BYTES, 0);
  out.writeUInt32BE(((serializeType << 24) | header.length) >>> 0, LENGTH_BYTES);
  header.copy(out, REMOTING_PREFIX_BYTES);
  if (cmd.body) cmd.body.copy(out, REMOTING_PREFIX_BYTES + header.length);
  return out;
}

/** Decodes one frame's bytes after its length prefix. */
function decodeFrame(frame: Buffer): DecodedRemotingCommand {
  // frame.length >= 4: the decoder refuses shorter declared lengths.
  const word = frame.readUInt32BE(0);
  const serializeType = word >>> 24;
  const headerLength = word & HEADER_LENGTH_MASK;
  if (headerLength > frame.length - LENGTH_BYTES) {
    throw new RemotingDecodeError('malformed', `remoting header length ${headerLength} exceeds the ${frame.length - LENGTH_BYTES} bytes of its frame`);
  }
  const headerBytes = frame.subarray(LENGTH_BYTES, LENGTH_BYTES + headerLength);
  let header: Omit<RemotingCommand, 'body'>;
  if (serializeType === SerializeType.JSON) header = decodeJsonHeader(headerBytes);
  else if (serializeType === SerializeType.ROCKETMQ) header = decodeRocketmqHeader(headerBytes);
  else throw new RemotingDecodeError('unknown-serialize-type', `remoting header serialize type ${serializeType} is neither JSON (0) nor ROCKETMQ (1)`);
  const body = frame.subarray(LENGTH_BYTES + headerLength);
  return { ...header, ...(body.length > 0 ? { body } : {}), serializeType: serializeType as SerializeTypeCode };
}

/**
 * Incremental decoder for one connection: push() each received chunk, get the whole commands it
 * completes. A frame is only assembled (and allocated) once its declared length has been checked
 * against the limit and all its bytes are here; a frame inside one chunk is a view of it, not a
 * copy. After a RemotingDecodeError the decoder refuses everything: close the connection.
 */
export class RemotingDecoder {
  private readonly frameBytesMax: number;
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Bytes of the frame being received, length prefix included; -1 until its prefix is here. */
  private frameBytes = -1;
  private failure: RemotingDecodeError | undefined;

  /** `frameBytesMax` (whole frame, prefix included) is for tests; peers use the default. */
  constructor(options: { readonly frameBytesMax?: number } = {}) {
    this.frameBytesMax = options.frameBytesMax ?? REMOTING_FRAME_BYTES_MAX;
  }

  /** Bytes received and not yet part of a returned command. */
  get pendingBytes(): number {
    return this.buffered;
  }

  push(chunk: Uint8Array): DecodedRemotingCommand[] {
    if (this.failure) throw new RemotingDecodeError(this.failure.reason, `decoder already failed: ${this.failure.message}`);
    if (chunk.length > 0) {
      this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      this.buffered += chunk.length;
    }
    const out: DecodedRemotingCommand[] = [];
    try {
      for (;;) {
        if (this.frameBytes < 0) {
          if (this.buffered < LENGTH_BYTES) break;
          this.frameBytes = this.declaredFrameBytes();
        }
        if (this.buffered < this.frameBytes) break;
        const frame = this.take(this.frameBytes);
        this.frameBytes = -1;
        out.push(decodeFrame(frame.subarray(LENGTH_BYTES)));
      }
    } catch (err) {
      this.chunks = [];
      this.buffered = 0;
      this.failure = err instanceof RemotingDecodeError ? err : new RemotingDecodeError('unexpected', `remoting frame does not decode: ${String(err)}`, err);
      throw this.failure;
    }
    return out;
  }

  /** The whole frame's size from its length prefix (which may span chunks), checked. */
  private declaredFrameBytes(): number {
    const prefix = this.chunks[0].length >= LENGTH_BYTES ? this.chunks[0] : Buffer.concat(this.chunks, LENGTH_BYTES);
    const length = prefix.readUInt32BE(0);
    if (length > this.frameBytesMax - LENGTH_BYTES) {
      throw new RemotingDecodeError('oversized', `remoting frame of ${length + LENGTH_BYTES} bytes exceeds the limit of ${this.frameBytesMax}`);
    }
    if (length < LENGTH_BYTES) throw new RemotingDecodeError('malformed', `remoting frame length ${length} leaves no room for its header length`);
    return length + LENGTH_BYTES;
  }

  /** Removes the first `n` buffered bytes: a view when they lie in one chunk, else one copy. */
  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0];
      const used = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, used);
      filled += used;
      if (used === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(used);
    }
    this.buffered -= n;
    return out;
  }
}
