// A tiny always-on assertion: invariants are checked in production too (TigerStyle).

export class AssertionError extends Error {
  override readonly name = 'RaftAssertionError';
}

/** Throws when `cond` is false. Use for programmer errors (broken invariants), never for
 *  operating errors such as an unreachable peer. */
export function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new AssertionError(msg);
}
