// Typed operating errors of the broker. Callers match on `code` (the wire's ErrorCode), never on
// the message. Programmer errors (broken invariants) are asserts instead (../util/assert.ts).
import { type NodeId, type ProposeRefusal, NONE } from '../raft/index.ts';
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

/** The error a client gets for a refusal of the Raft core (a proposal, a membership change, a
 *  linearizable read). */
export function refusalError(r: ProposeRefusal): ProposalError {
  switch (r.code) {
    case 'UNCOMMITTED_LIMIT':
    case 'READ_QUEUE_FULL':
      return new ProposalError('OVERLOADED', `refused: ${r.reason}`, r.leaderHint);
    case 'NOT_LEADER':
    case 'TRANSFERRING':
      return new ProposalError('NOT_MASTER', `refused: ${r.reason}`, r.leaderHint);
    case 'LEARNER_LAGGING':
      // Clients wait this one out (Admin.addMember promotes once caught up): say so in words.
      return new ProposalError('MEMBER_CHANGE_REFUSED', `the learner is still catching up: ${r.reason}`, r.leaderHint);
    default:
      return new ProposalError('MEMBER_CHANGE_REFUSED', r.reason, r.leaderHint);
  }
}
