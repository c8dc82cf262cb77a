// Quorum math for a single majority configuration. Pure functions, no allocation on the hot path.

export enum VoteResult {
  Pending = 'Pending',
  Won = 'Won',
  Lost = 'Lost',
}

/** Size of a majority of `voterCount` voters. */
export function majority(voterCount: number): number {
  return (voterCount >> 1) + 1;
}

/**
 * The highest index known to be held by a majority: the majority-th highest of `matches`.
 * `scratch` (length >= matches.length) avoids an allocation; its contents are overwritten.
 * Returns 0 for an empty configuration.
 */
export function committedIndex(matches: ArrayLike<number>, scratch?: number[]): number {
  const n = matches.length;
  if (n === 0) return 0;
  const a = scratch ?? new Array<number>(n);
  // Insertion sort, descending: n is a handful of replicas.
  for (let i = 0; i < n; i++) {
    const v = matches[i];
    let j = i - 1;
    while (j >= 0 && a[j] < v) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = v;
  }
  return a[majority(n) - 1];
}

/** Tally of an election among `voterCount` voters. */
export function voteResult(voterCount: number, granted: number, rejected: number): VoteResult {
  const q = majority(voterCount);
  if (granted >= q) return VoteResult.Won;
  if (voterCount - rejected < q) return VoteResult.Lost;
  return VoteResult.Pending;
}
