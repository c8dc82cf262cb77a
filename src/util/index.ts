// The bottom of the tree: what every folder may import, including src/raft. Imports nothing.
export { CodedError, isNoSpaceError } from './errors.ts';
export { AssertionError, assert } from './assert.ts';
