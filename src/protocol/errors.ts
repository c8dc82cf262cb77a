// The wire's error codes and the error they become on either side (RaftmqError): the client
// library, the broker server and the net layer share them. Callers match on `code` (stable, the
// same on the wire), never on `message`.
import { CodedError } from '../util/index.ts';
import type { Response } from './wire.ts';

/** Stable error codes; the same on the wire and in the client's typed errors. */
export type ErrorCode =
  | 'NOT_MASTER'
  | 'TIMEOUT'
  | 'TOPIC_NOT_FOUND'
  | 'MESSAGE_TOO_LARGE'
  | 'BAD_REQUEST'
  | 'NO_QUORUM'
  | 'STORE_CORRUPT'
  | 'DISK_FULL'
  | 'SHUTTING_DOWN'
  | 'CONNECTION_LOST'
  | 'OVERLOADED'
  /** A membership change refused: another is in flight, a learner still catching up, or one
   *  that would leave the group without a live quorum (the message says which). */
  | 'MEMBER_CHANGE_REFUSED'
  | 'INTERNAL';

export interface RaftmqErrorOptions {
  readonly cause?: unknown;
  /** NOT_MASTER: the master's node id, when known. */
  readonly masterId?: string;
  /** NOT_MASTER: the master's client address (host:port), when known. */
  readonly masterAddr?: string;
  /** Transport errors: false when the request is known never to have left this process
   *  (connect refused, still queued), so a retry cannot duplicate it. */
  readonly requestSent?: boolean;
  /** A write that failed after its tries: 'not-stored' when no try can have stored it, 'unknown'
   *  when one may have (a timeout, a connection lost after the request left): at-least-once. */
  readonly outcome?: WriteOutcome;
}

export type WriteOutcome = 'unknown' | 'not-stored';

export class RaftmqError extends CodedError<ErrorCode> {
  override readonly name: string = 'RaftmqError';
  readonly masterId?: string;
  readonly masterAddr?: string;
  readonly requestSent?: boolean;
  readonly outcome?: WriteOutcome;

  constructor(code: ErrorCode, message: string, options: RaftmqErrorOptions = {}) {
    super(code, message, options);
    if (options.requestSent !== undefined) this.requestSent = options.requestSent;
    if (options.outcome !== undefined) this.outcome = options.outcome;
    if (options.masterId) this.masterId = options.masterId;
    if (options.masterAddr) this.masterAddr = options.masterAddr;
  }
}

export type ErrorResponse = Extract<Response, { type: 'error' }>;

/** Turns an `error` response into a typed error. */
export function errorFromResponse(resp: ErrorResponse): RaftmqError {
  return new RaftmqError(resp.code, resp.message, {
    ...(resp.masterId ? { masterId: resp.masterId } : {}),
    ...(resp.masterAddr ? { masterAddr: resp.masterAddr } : {}),
  });
}

/** Turns any thrown value into an `error` response for request `id` (unknown errors become INTERNAL). */
export function errorResponse(id: number, err: unknown): ErrorResponse {
  if (err instanceof RaftmqError) {
    const resp: { -readonly [K in keyof ErrorResponse]: ErrorResponse[K] } = {
      type: 'error',
      id,
      code: err.code,
      message: err.message,
    };
    if (err.masterId !== undefined) resp.masterId = err.masterId;
    if (err.masterAddr !== undefined) resp.masterAddr = err.masterAddr;
    return resp;
  }
  const message = err instanceof Error ? err.message : String(err);
  return { type: 'error', id, code: 'INTERNAL', message };
}

/** Codes a broker answers before proposing, or after the entry can never commit: the write was
 *  certainly not stored. Every other failure of a request that left may have been stored. */
const NOT_STORED_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'NOT_MASTER',
  'NO_QUORUM',
  'OVERLOADED',
  'BAD_REQUEST',
  'TOPIC_NOT_FOUND',
  'MESSAGE_TOO_LARGE',
  'DISK_FULL',
  'MEMBER_CHANGE_REFUSED',
]);

/** What one failed try says about its write: stored for sure never, or perhaps. */
export function outcomeOf(err: unknown): WriteOutcome {
  if (!(err instanceof RaftmqError)) return 'unknown';
  if (err.requestSent === false) return 'not-stored';
  return NOT_STORED_CODES.has(err.code) ? 'not-stored' : 'unknown';
}

export function isRaftmqError(err: unknown, code?: ErrorCode): err is RaftmqError {
  return err instanceof RaftmqError && (code === undefined || err.code === code);
}

/** Codes after which the same request may succeed on another try or another replica.
 *  A TIMEOUT or CONNECTION_LOST after the request left is an unknown outcome: retrying a
 *  send may duplicate it (at-least-once). */
export const RETRYABLE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'NOT_MASTER',
  'TIMEOUT',
  'CONNECTION_LOST',
  'NO_QUORUM',
  'SHUTTING_DOWN',
  'OVERLOADED',
]);

export function isRetryable(err: unknown): boolean {
  return err instanceof RaftmqError && RETRYABLE_CODES.has(err.code);
}
