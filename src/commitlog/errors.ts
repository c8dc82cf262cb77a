// Operating errors of the commitlog: a stable `code` (see CommitLogErrorCode), a human message, a
// cause. Programmer errors (a broken invariant) are asserts instead (../util/assert.ts): they
// crash the process.
import { CodedError } from '../util/index.ts';
import type { CommitLogErrorCode } from './types.ts';

/** Where a STORE_CORRUPT store is bad: a file and a byte offset in it (what a repair cuts). */
export interface CorruptLocation {
  readonly file: string;
  readonly offset: number;
}

export class CommitLogError extends CodedError<CommitLogErrorCode> {
  override readonly name = 'CommitLogError';
  /** STORE_CORRUPT: where, when known. */
  readonly location?: CorruptLocation;
  constructor(code: CommitLogErrorCode, message: string, options?: { cause?: unknown; location?: CorruptLocation }) {
    super(code, message, options);
    if (options?.location !== undefined) this.location = options.location;
  }
}

/** Maps an fs error of a write path to a CommitLogError (ENOSPC/EDQUOT -> DISK_FULL). */
export function writeError(err: unknown, what: string): CommitLogError {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new CommitLogError('DISK_FULL', `disk full while ${what}`, { cause: err });
  }
  return new CommitLogError('IO_ERROR', `I/O error while ${what}: ${String((err as Error)?.message ?? err)}`, {
    cause: err,
  });
}

/** A failed write that leaves the store failed for good (a cut, a restart): IO_ERROR even for a
 *  full disk, since DISK_FULL tells a writer it may try again. */
export function failedForGood(err: unknown, what: string): CommitLogError {
  const e = writeError(err, what);
  return e.code === 'DISK_FULL' ? new CommitLogError('IO_ERROR', `${e.message}; the store refuses writes now`, { cause: err }) : e;
}

/** STORE_CORRUPT at a file and byte offset (the location a repair cuts at). */
export function corruptError(file: string, offset: number, reason: string): CommitLogError {
  return new CommitLogError('STORE_CORRUPT', `corrupt store: ${file} at byte offset ${offset}: ${reason}`, { location: { file, offset } });
}
