// The tree's one always-on assertion: invariants are checked in production too (TigerStyle).

/** A broken invariant: a programmer error, never an operating one, so it is not a CodedError and
 *  no caller is expected to handle it. */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

/** Throws an AssertionError when `cond` is false. For programmer errors only, never for operating
 *  errors such as an unreachable peer or a full disk. */
export function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new AssertionError(msg);
}
