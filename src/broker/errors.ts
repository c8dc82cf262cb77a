// Typed operating errors of the broker. Callers match on `code` (the wire's ErrorCode), never on
// the message. Programmer errors (broken invariants) are asserts instead (../raft/assert.ts).
import type { ErrorCode } from './protocol.ts';

export class BrokerError extends Error {
  override readonly name: string = 'BrokerError';
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** A log entry payload that is not a valid broker command. On apply this is a programmer error
 *  (every command is validated before it is proposed), so the state machine asserts instead. */
export class CommandDecodeError extends Error {
  override readonly name = 'CommandDecodeError';
  readonly code = 'BAD_COMMAND' as const;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
