import fc from 'fast-check';
import t from 'tap';
import { VoteResult, committedIndex, majority, voteResult } from '../../src/raft/index.ts';

/** The obvious definition: the largest index that at least a majority of matches reach. */
function dumbCommittedIndex(matches: number[]): number {
  let best = 0;
  for (const candidate of matches) {
    const holders = matches.filter((m) => m >= candidate).length;
    if (holders >= majority(matches.length) && candidate > best) best = candidate;
  }
  return best;
}

t.test('majority sizes', async (t) => {
  t.same([1, 2, 3, 4, 5, 6, 7].map(majority), [1, 2, 2, 3, 3, 4, 4]);
});

t.test('committed index is the majority-th highest match', async (t) => {
  t.equal(committedIndex([5]), 5);
  t.equal(committedIndex([5, 3, 9]), 5);
  t.equal(committedIndex([1, 2, 3, 4]), 2);
  t.equal(committedIndex([10, 10, 0, 0, 0]), 0);
  t.equal(committedIndex([10, 10, 7, 0, 0]), 7);
  t.equal(committedIndex([]), 0);
});

t.test('quick-check: fast committed index equals the dumb one', async (t) => {
  const scratch: number[] = new Array(9).fill(0);
  fc.assert(
    fc.property(fc.array(fc.nat(1000), { minLength: 1, maxLength: 9 }), (matches) => {
      const before = matches.slice();
      const fast = committedIndex(matches, scratch);
      const untouched = matches.every((m, i) => m === before[i]);
      return untouched && fast === dumbCommittedIndex(matches) && committedIndex(matches) === fast;
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 random configurations agree');
});

t.test('vote tally: won, lost, pending', async (t) => {
  t.equal(voteResult(3, 2, 0), VoteResult.Won);
  t.equal(voteResult(3, 1, 1), VoteResult.Pending);
  t.equal(voteResult(3, 1, 2), VoteResult.Lost);
  t.equal(voteResult(1, 1, 0), VoteResult.Won);
  t.equal(voteResult(4, 2, 2), VoteResult.Lost, 'a 2-2 split in 4 voters cannot win');
  t.equal(voteResult(4, 2, 1), VoteResult.Pending);
  t.equal(voteResult(5, 2, 2), VoteResult.Pending);
  t.equal(voteResult(5, 3, 2), VoteResult.Won);
});
