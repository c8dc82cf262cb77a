// Public API of the Raft core.
export * from './types.ts';
export { MemoryStorage } from './memory-storage.ts';
export { RaftNode } from './raw-node.ts';
export { CompactedError, UnavailableError, RaftError } from './errors.ts';
export { AssertionError, assert } from './assert.ts';
export { VoteResult, committedIndex, majority, voteResult } from './quorum.ts';
export { Prng } from './prng.ts';
