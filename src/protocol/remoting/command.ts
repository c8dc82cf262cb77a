// RocketMQ's RemotingCommand as raftmq handles it: the fields both header serialize types carry,
// the frame limit, and the error a malformed frame raises.
import { RaftmqError } from '../errors.ts';
import { LanguageCode, type SerializeTypeCode } from './codes.ts';

/** Largest whole frame, its length prefix included: RocketMQ's NettyDecoder default
 *  (`com.rocketmq.remoting.frameMaxLength`, 16 MiB), so a frame one side accepts the other does. */
export const REMOTING_FRAME_BYTES_MAX = 16 * 1024 * 1024;
/** Bytes before the header: the int32 length and the int32 (serializeType << 24 | headerLength). */
export const REMOTING_PREFIX_BYTES = 8;

/** `flag` bit 0: the command is a response (RemotingCommand's RPC_TYPE). */
export const FLAG_RESPONSE = 1 << 0;
/** `flag` bit 1: a request that expects no response (RPC_ONEWAY). */
export const FLAG_ONEWAY = 1 << 1;

/** One command, as both header types carry it. `code` is a RequestCode in a request and a
 *  ResponseCode in a response; `opaque` pairs a response with its request. */
export interface RemotingCommand {
  readonly code: number;
  /** A LanguageCode byte. */
  readonly language: number;
  readonly version: number;
  readonly opaque: number;
  readonly flag: number;
  /** Absent, never '' after a binary round trip: the ROCKETMQ type writes '' as no remark. */
  readonly remark?: string;
  /** The request or response header's fields, all strings (a null-prototype object when decoded). */
  readonly extFields: Readonly<Record<string, string>>;
  /** Absent when the frame has no body. Decoded bodies are views of the received bytes. */
  readonly body?: Buffer;
}

/** A decoded command and the header type it came in; a response goes back in the same type. */
export interface DecodedRemotingCommand extends RemotingCommand {
  readonly serializeType: SerializeTypeCode;
}

export function isResponse(cmd: Pick<RemotingCommand, 'flag'>): boolean {
  return (cmd.flag & FLAG_RESPONSE) !== 0;
}

export function isOneway(cmd: Pick<RemotingCommand, 'flag'>): boolean {
  return (cmd.flag & FLAG_ONEWAY) !== 0;
}

/** A request with RocketMQ's defaults (language JAVA as the Java client sends, version 0). */
export function remotingRequest(code: number, opaque: number, extFields: Record<string, string> = {}, body?: Buffer): RemotingCommand {
  return { code, language: LanguageCode.JAVA, version: 0, opaque, flag: 0, extFields, ...(body === undefined ? {} : { body }) };
}

/** The response to `request`: same opaque, the response bit set. */
export function remotingResponse(request: Pick<RemotingCommand, 'opaque'>, code: number, remark?: string, extFields: Record<string, string> = {}, body?: Buffer): RemotingCommand {
  return {
    code,
    language: LanguageCode.JAVA,
    version: 0,
    opaque: request.opaque,
    flag: FLAG_RESPONSE,
    ...(remark === undefined ? {} : { remark }),
    extFields,
    ...(body === undefined ? {} : { body }),
  };
}

/** Why a frame was refused: longer than REMOTING_FRAME_BYTES_MAX, a header that does not parse,
 *  a serialize type other than JSON (0) and ROCKETMQ (1), or 'unexpected': an exception no check
 *  of the decoder's raised (a bug; the connection is closed all the same, never the process). */
export type RemotingDecodeErrorReason = 'oversized' | 'malformed' | 'unknown-serialize-type' | 'unexpected';

/** A frame that cannot be accepted. The decoder is unusable afterwards: the caller closes the
 *  connection (and logs `message`, which says what was wrong). */
export class RemotingDecodeError extends RaftmqError {
  override readonly name = 'RemotingDecodeError';
  readonly reason: RemotingDecodeErrorReason;
  constructor(reason: RemotingDecodeErrorReason, message: string, cause?: unknown) {
    super('BAD_REQUEST', message, { cause });
    this.reason = reason;
  }
}
