// The client's typed errors live in the net layer so the server can share them.
export { RaftmqError, FrameError, RETRYABLE_CODES, isRaftmqError, isRetryable } from '../net/errors.ts';
export type { RaftmqErrorOptions, FrameErrorReason } from '../net/errors.ts';
