// The base of every operating error in the tree. It lives in src/util, the one folder that every
// other folder may import, because src/raft (a pure core that imports nothing else) needs it too.

/**
 * An operating error (a refused request, a full disk, a compacted index): `code` is stable and
 * what callers match on; `message` is for people and may change; `cause` is the error that led to
 * it, when there is one. Each folder keeps its own subclass with its own set of codes.
 */
export class CodedError<C extends string = string> extends Error {
  override readonly name: string = 'CodedError';
  readonly code: C;

  constructor(code: C, message: string, options?: { readonly cause?: unknown }) {
    // No `cause` property at all when there is none (not one set to undefined).
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/** Whether `err` (or a cause of it) says the disk is full: a DISK_FULL code, an fs error's ENOSPC
 *  or EDQUOT, or LevelDB's "No space left on device" (its IO errors carry no errno). */
export function isNoSpaceError(err: unknown): boolean {
  for (let e = err as { code?: unknown; message?: unknown; cause?: unknown } | null | undefined, depth = 0; e != null && depth < 4; e = e.cause as typeof e, depth++) {
    if (e.code === 'DISK_FULL' || e.code === 'ENOSPC' || e.code === 'EDQUOT') return true;
    if (typeof e.message === 'string' && /no space left on device|disk quota exceeded/i.test(e.message)) return true;
  }
  return false;
}
