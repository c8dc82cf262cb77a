// Errors of the net layer itself; the wire's RaftmqError and its codes are in ../protocol.
import { RaftmqError } from '../protocol/index.ts';

/** Why the frame decoder refused its input. The connection that sent it is closed. */
export type FrameErrorReason = 'oversized' | 'malformed' | 'unknown-type';

/** A frame that cannot be accepted: too large, not msgpack, or not `{type: string, id: number}`. */
export class FrameError extends RaftmqError {
  override readonly name = 'FrameError';
  readonly reason: FrameErrorReason;
  constructor(reason: FrameErrorReason, message: string, cause?: unknown) {
    super('BAD_REQUEST', message, { cause });
    this.reason = reason;
  }
}
