// Public API of the Raft core.
export * from './types.ts';
export { MemoryStorage } from './memory-storage.ts';
export { applyConfChange, decodeConfChangeEntry, encodeConfChangeEntry, isMemberOf, isValidConf } from './conf.ts';
export { PROMOTE_LAG_MAX_DEFAULT } from './propose.ts';
export { READ_QUEUE_MAX } from './read-index.ts';
export { RaftNode } from './raw-node.ts';
export { CompactedError, UnavailableError, RaftError, type RaftErrorCode } from './errors.ts';
export { VoteResult, committedIndex, majority, voteResult } from './quorum.ts';
export { Prng } from './prng.ts';
export { RaftLog } from './log.ts';
export { Inflights, Progress, ProgressState } from './progress.ts';
