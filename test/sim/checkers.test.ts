// Each checker must fire on a hand-made history that breaks its invariant, and stay quiet on a
// clean one (a checker that never fires proves nothing).

import t from 'tap';
import { type Entry, EntryType, Role } from '../../src/raft/index.ts';
import { INITIAL_STATE_HASH, checkHistory, entryKey, stateHash } from '../../scripts/sim/checkers.ts';
import type { Observation } from '../../scripts/sim/checkers.ts';

const bodies = new Map<string, Uint8Array>();
function body(s: string): Uint8Array {
  let b = bodies.get(s);
  if (!b) {
    b = Buffer.from(s);
    bodies.set(s, b);
  }
  return b;
}

/** e(index, term, body) */
function e(index: number, term: number, data: string): Entry {
  return { index, term, type: EntryType.Normal, data: body(data) };
}

const leader = (node: string, term: number): Observation => ({ k: 'role', node, term, role: Role.Leader });
const follower = (node: string, term: number): Observation => ({ k: 'role', node, term, role: Role.Follower });
const log = (node: string, ...entries: Entry[]): Observation => ({ k: 'log', node, entries });
const commit = (node: string, term: number, c: number): Observation => ({ k: 'commit', node, term, commit: c });
const apply = (node: string, ...entries: Entry[]): Observation => ({ k: 'apply', node, entries });

function firstInvariant(h: Observation[]): string | null {
  const v = checkHistory(h);
  return v.length ? v[0].invariant : null;
}

t.test('election safety: two leaders in one term fire, leaders of different terms do not', async (t) => {
  t.equal(firstInvariant([leader('n0', 1), leader('n1', 1)]), 'election-safety');
  t.equal(firstInvariant([{ k: 'leaderMsg', node: 'n0', term: 4 }, leader('n2', 4)]), 'election-safety');
  t.equal(firstInvariant([leader('n0', 1), follower('n0', 2), leader('n1', 2), leader('n1', 2)]), null);
});

t.test('vote once: a second vote in the same term for someone else fires', async (t) => {
  const v = (voter: string, term: number, candidate: string): Observation => ({ k: 'vote', voter, term, candidate });
  t.equal(firstInvariant([v('n2', 3, 'n0'), v('n2', 3, 'n1')]), 'vote-once');
  t.equal(firstInvariant([v('n2', 3, 'n0'), v('n2', 3, 'n0'), v('n2', 4, 'n1')]), null);
});

t.test('term monotonic: a node going back to an older term fires', async (t) => {
  t.equal(firstInvariant([follower('n0', 3), commit('n0', 2, 0)]), 'term-monotonic');
  t.equal(firstInvariant([follower('n0', 3), commit('n0', 3, 0), follower('n0', 5)]), null);
});

t.test('log matching: same index and term with different bodies or prefixes fires', async (t) => {
  t.equal(firstInvariant([log('n0', e(1, 1, 'a'), e(2, 1, 'b')), log('n1', e(1, 1, 'a'), e(2, 1, 'c'))]), 'log-matching');
  // Entry 2 of term 3 is the same, but the prefixes differ (term 1 vs term 2 at index 1).
  t.equal(firstInvariant([log('n0', e(1, 1, 'a'), e(2, 3, 'c')), log('n1', e(1, 2, 'b'), e(2, 3, 'c'))]), 'log-matching');
  t.equal(firstInvariant([log('n0', e(3, 1, 'a'))]), 'log-matching', 'a gap');
  t.equal(firstInvariant([log('n0', e(1, 2, 'a'), e(2, 1, 'b'))]), 'log-matching', 'terms decrease');
  t.equal(
    firstInvariant([
      log('n0', e(1, 1, 'a'), e(2, 1, 'b')),
      log('n1', e(1, 1, 'a'), e(2, 2, 'x')),
      log('n0', e(2, 2, 'x'), e(3, 2, 'y')),
    ]),
    null,
    'divergent suffixes of different terms, then a conflict truncated',
  );
});

t.test('leader append-only: a leader overwriting its own log fires', async (t) => {
  t.equal(firstInvariant([leader('n0', 2), log('n0', e(1, 2, 'a')), log('n0', e(1, 2, 'b'))]), 'leader-append-only');
  t.equal(firstInvariant([leader('n0', 2), log('n0', e(1, 2, 'a')), log('n0', e(2, 2, 'b'))]), null);
});

t.test('leader completeness: a later leader without a committed entry fires', async (t) => {
  const base = [log('n0', e(1, 1, 'a')), log('n1', e(1, 1, 'a')), commit('n0', 1, 1), log('n2', e(1, 2, 'b'))];
  t.equal(firstInvariant([...base, leader('n2', 2)]), 'leader-completeness');
  // Elected first, the commit observed afterwards: still caught.
  t.equal(
    firstInvariant([log('n0', e(1, 1, 'a')), log('n2', e(1, 2, 'b')), leader('n2', 3), commit('n0', 1, 1)]),
    'leader-completeness',
  );
  t.equal(firstInvariant([log('n0', e(1, 1, 'a')), commit('n0', 1, 1), log('n2', e(1, 1, 'a')), leader('n2', 2)]), null);
  // Legal (Figure 8 (d)-(e) in reverse): a term-2 leader lacks an entry that only a term-3
  // leader committed later.
  t.equal(firstInvariant([log('n2', e(1, 2, 'b')), leader('n2', 2), log('n0', e(1, 1, 'a')), commit('n0', 3, 1)]), null);
});

t.test('committed entries never change or disappear', async (t) => {
  t.equal(firstInvariant([log('n0', e(1, 1, 'a')), commit('n0', 1, 1), log('n0', e(1, 2, 'b'))]), 'committed-stable', 'overwritten');
  t.equal(
    firstInvariant([log('n0', e(1, 1, 'a')), commit('n0', 1, 1), log('n1', e(1, 2, 'b')), commit('n1', 2, 1)]),
    'committed-stable',
    'two different entries committed at one index',
  );
  t.equal(firstInvariant([log('n0', e(1, 1, 'a')), commit('n0', 1, 2)]), 'committed-stable', 'commit beyond the log');
  t.equal(
    firstInvariant([log('n0', e(1, 1, 'a'), e(2, 1, 'b')), commit('n0', 1, 2), log('n0', e(1, 1, 'a'))]),
    'committed-stable',
    'truncated below the commit index',
  );
  t.equal(firstInvariant([log('n0', e(1, 1, 'a'), e(2, 1, 'b')), commit('n0', 1, 1), log('n0', e(2, 2, 'c'))]), null);
});

t.test('commit index: monotonic within an incarnation, restarts from at most the durable commit', async (t) => {
  t.equal(firstInvariant([log('n0', e(1, 1, 'a'), e(2, 1, 'b')), commit('n0', 1, 2), commit('n0', 1, 1)]), 'commit-monotonic');
  const restart = (c: number, durable: number): Observation => ({
    k: 'restart',
    node: 'n0',
    log: [e(1, 1, 'a'), e(2, 1, 'b')],
    term: 1,
    durableCommit: durable,
    commit: c,
    applied: 0,
  });
  t.equal(firstInvariant([restart(2, 1)]), 'commit-monotonic');
  t.equal(
    firstInvariant([log('n0', e(1, 1, 'a'), e(2, 1, 'b')), commit('n0', 1, 2), { k: 'crash', node: 'n0' }, restart(0, 1), commit('n0', 1, 2)]),
    null,
    'a restart may start lower and climb again',
  );
});

t.test('state machine safety: gaps, applying beyond commit or another entry fire', async (t) => {
  t.equal(firstInvariant([log('n0', e(1, 1, 'a'), e(2, 1, 'b')), commit('n0', 1, 2), apply('n0', e(2, 1, 'b'))]), 'state-machine-safety');
  t.equal(firstInvariant([log('n0', e(1, 1, 'a')), apply('n0', e(1, 1, 'a'))]), 'state-machine-safety', 'not committed');
  t.equal(
    firstInvariant([log('n0', e(1, 1, 'a')), commit('n0', 1, 1), apply('n0', e(1, 1, 'z'))]),
    'state-machine-safety',
    'not what its log holds',
  );
  t.equal(
    firstInvariant([log('n0', e(1, 1, 'a'), e(2, 1, 'b')), commit('n0', 1, 2), apply('n0', e(1, 1, 'a')), apply('n0', e(2, 1, 'b'))]),
    null,
  );
});

t.test('acknowledged proposals are in every later leader log', async (t) => {
  const ack: Observation = { k: 'ack', node: 'n0', term: 1, proposal: { term: 1, firstIndex: 1, lastIndex: 1, data: [body('a')] } };
  t.equal(firstInvariant([log('n0', e(1, 1, 'a')), ack, log('n1', e(1, 2, 'x')), leader('n1', 2)]), 'acked-durable');
  t.equal(firstInvariant([log('n1', e(1, 2, 'x')), leader('n1', 2), log('n0', e(1, 1, 'a')), ack]), 'acked-durable');
  t.equal(firstInvariant([log('n0', e(1, 1, 'a')), ack, log('n1', e(1, 1, 'a'), e(2, 2, '')), leader('n1', 2)]), null);
});

/** The state after applying `entries` from the initial state. */
function stateOf(...entries: Entry[]): number {
  let h = INITIAL_STATE_HASH;
  for (const x of entries) h = stateHash(h, entryKey(x));
  return h;
}

t.test('snapshots: a restored state must equal the state of the committed prefix', async (t) => {
  const a = e(1, 1, 'a');
  const b = e(2, 1, 'b');
  const c = e(3, 1, 'c');
  const committed = [log('n0', a, b, c), commit('n0', 1, 3), log('n1', a), commit('n1', 1, 1)];
  const snap = (index: number, term: number, hash: number): Observation => ({ k: 'snapshot', node: 'n1', index, term, hash });
  t.equal(firstInvariant([...committed, snap(2, 1, stateOf(a, b)), log('n1', c), commit('n1', 1, 3)]), null, 'a correct snapshot, then the log after it');
  t.equal(firstInvariant([...committed, snap(2, 1, stateOf(a))]), 'snapshot-state', 'the state of another index');
  t.equal(firstInvariant([...committed, snap(2, 1, stateOf(b, a))]), 'snapshot-state', 'the entries in another order');
  t.equal(firstInvariant([...committed, snap(2, 2, stateOf(a, b))]), 'snapshot-state', 'the wrong term');
  t.equal(firstInvariant([...committed, snap(4, 1, stateOf(a, b, c))]), 'snapshot-state', 'beyond the committed prefix');
  t.equal(firstInvariant([...committed, commit('n1', 1, 1), apply('n1', a), snap(2, 1, stateOf(a, b)), { k: 'snapshot', node: 'n0', index: 2, term: 1, hash: stateOf(a, b) }]), 'committed-stable', 'below the commit index (n0 committed 3)');
  // After a snapshot the log above it is checked as usual (log matching against n0's entry 3).
  t.equal(firstInvariant([...committed, snap(2, 1, stateOf(a, b)), log('n1', e(3, 1, 'x'))]), 'log-matching');
});

t.test('snapshots: applied states and restarts over a compacted store are checked against the committed prefix', async (t) => {
  const a = e(1, 1, 'a');
  const b = e(2, 1, 'b');
  const c = e(3, 1, 'c');
  const base = [log('n0', a, b, c), commit('n0', 1, 3)];
  const applyWith = (hash: number, ...entries: Entry[]): Observation => ({ k: 'apply', node: 'n0', entries, hash });
  t.equal(firstInvariant([...base, applyWith(stateOf(a, b), a, b)]), null);
  t.equal(firstInvariant([...base, applyWith(stateOf(a), a, b)]), 'snapshot-state', 'an applied state that is not the prefix');
  const restart = (snapshot: { index: number; term: number }, log: Entry[], applied: number, stateHash: number): Observation => ({
    k: 'restart',
    node: 'n0',
    log,
    snapshot,
    stateHash,
    term: 1,
    durableCommit: 3,
    commit: 3,
    applied,
  });
  t.equal(firstInvariant([...base, { k: 'crash', node: 'n0' }, restart({ index: 2, term: 1 }, [c], 2, stateOf(a, b))]), null, 'over a snapshot at 2');
  t.equal(firstInvariant([...base, { k: 'crash', node: 'n0' }, restart({ index: 2, term: 1 }, [c], 2, stateOf(a, c))]), 'snapshot-state', 'with a wrong state');
  t.equal(firstInvariant([...base, { k: 'crash', node: 'n0' }, restart({ index: 2, term: 1 }, [e(4, 1, 'd')], 2, stateOf(a, b))]), 'log-matching', 'with a gap after the snapshot');
});

t.test('an entry that died with its writer and reached nobody no longer binds Log Matching; one still in flight does', async (t) => {
  const restart = (inFlight: string[]): Observation => ({
    k: 'restart', node: 'n0', log: [e(1, 1, 'a')], term: 1, durableCommit: 1, commit: 1, applied: 1, entriesInFlight: new Set(inFlight),
  });
  const base: Observation[] = [leader('n0', 1), log('n0', e(1, 1, 'a')), commit('n0', 1, 1), leader('n0', 2), log('n0', e(2, 2, 'lost')), { k: 'crash', node: 'n0' }];
  t.equal(firstInvariant([...base, restart([]), leader('n0', 2), log('n0', e(2, 2, 'other'))]), null, 'a single voter leads its lost term again');
  t.equal(firstInvariant([...base, restart(['2/2']), leader('n0', 2), log('n0', e(2, 2, 'other'))]), 'log-matching', 'its append is still on its way');
  const seen: Observation[] = [leader('n0', 1), log('n0', e(1, 1, 'a')), log('n1', e(1, 1, 'a')), commit('n0', 1, 1), leader('n0', 2), log('n0', e(2, 2, 'x')), log('n1', e(2, 2, 'x')), { k: 'crash', node: 'n0' }];
  t.equal(firstInvariant([...seen, restart([]), leader('n0', 2), log('n0', e(2, 2, 'other'))]), 'log-matching', 'another log holds it');
});
