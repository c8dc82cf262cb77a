// Typed errors of the Raft core (raft-rs style): callers match on `code`, not on messages.
import { CodedError } from '../util/index.ts';

export type RaftErrorCode = 'RAFT_COMPACTED' | 'RAFT_UNAVAILABLE';

export class RaftError extends CodedError<RaftErrorCode> {
  override readonly name: string = 'RaftError';
}

/** The requested index is below the storage's first index (the log was compacted). */
export class CompactedError extends RaftError {
  override readonly name = 'CompactedError';
  constructor(index: number, firstIndex: number) {
    super('RAFT_COMPACTED', `index ${index} is compacted (first index ${firstIndex})`);
  }
}

/** The requested index is above the last index the storage holds. */
export class UnavailableError extends RaftError {
  override readonly name = 'UnavailableError';
  constructor(index: number, lastIndex: number) {
    super('RAFT_UNAVAILABLE', `index ${index} is unavailable (last index ${lastIndex})`);
  }
}
