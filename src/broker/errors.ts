// Typed operating errors of the broker. Callers match on `code` (the wire's ErrorCode), never on
// the message. Programmer errors (broken invariants) are asserts instead (../util/assert.ts).
import { type NodeId, NONE } from '../raft/index.ts';
import { CodedError } from '../util/index.ts';
import type { ErrorCode } from '../protocol/index.ts';

export class BrokerError extends CodedError<ErrorCode> {
  override readonly name: string = 'BrokerError';
}

/** A proposal the replica refused or could not commit; `leaderId` names the master when known
 *  (the server turns NOT_MASTER into the master's address). */
export class ProposalError extends CodedError<ErrorCode> {
  override readonly name = 'ProposalError';
  readonly leaderId: NodeId;
  constructor(code: ErrorCode, message: string, leaderId: NodeId = NONE) {
    super(code, message);
    this.leaderId = leaderId;
  }
}

/** A log entry payload that is not a valid broker command. On apply this is a programmer error
 *  (every command is validated before it is proposed), so the state machine asserts instead. */
export class CommandDecodeError extends CodedError<'BAD_COMMAND'> {
  override readonly name = 'CommandDecodeError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('BAD_COMMAND', message, options);
  }
}
