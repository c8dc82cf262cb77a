import t from 'tap';
import { CompactedError, RaftLog, MemoryStorage, type Entry, EntryType } from '../../src/raft/index.ts';

function ent(index: number, term: number, size = 0): Entry {
  return { index, term, type: EntryType.Normal, data: new Uint8Array(size) };
}

/** Entries with these terms at indexes 1.. */
function ents(terms: number[], from = 1, size = 0): Entry[] {
  return terms.map((term, i) => ent(from + i, term, size));
}

function storageWith(terms: number[]): MemoryStorage {
  const s = new MemoryStorage();
  s.append(ents(terms));
  return s;
}

function terms(list: Entry[]): number[] {
  return list.map((e) => e.term);
}

t.test('MemoryStorage: append truncates a conflicting suffix', async (t) => {
  const s = storageWith([1, 1, 2, 2]);
  t.equal(s.lastIndex(), 4);
  s.append([ent(3, 3)]);
  t.equal(s.lastIndex(), 3);
  t.same(terms(s.entries(1, 4, Infinity)), [1, 1, 3]);
  t.throws(() => s.append([ent(9, 3)]), /gap/);
  t.equal(s.term(0), 0);
});

t.test('MemoryStorage: entries respects the byte limit but returns at least one', async (t) => {
  const s = new MemoryStorage();
  s.append(ents([1, 1, 1, 1], 1, 100));
  t.equal(s.entries(1, 5, 250).length, 2);
  t.equal(s.entries(1, 5, 10).length, 1);
  t.equal(s.entries(1, 5, 400).length, 4);
});

t.test('MemoryStorage: compaction', async (t) => {
  const s = storageWith([1, 1, 2, 2]);
  s.compact(2, 4);
  t.equal(s.firstIndex(), 3);
  t.equal(s.term(2), 1, 'term of the compaction point is kept');
  t.throws(() => s.term(1), CompactedError);
  t.throws(() => s.entries(2, 4, Infinity), CompactedError);
  const c = s.clone();
  s.append([ent(5, 3)]);
  t.equal(c.lastIndex(), 4, 'a clone is independent');
});

t.test('findConflict', async (t) => {
  const log = new RaftLog(storageWith([1, 2, 3]), 0, 0);
  t.equal(log.findConflict([]), 0);
  t.equal(log.findConflict(ents([1, 2, 3])), 0, 'all match');
  t.equal(log.findConflict(ents([2, 3], 2)), 0, 'suffix matches');
  t.equal(log.findConflict(ents([2, 3, 4, 4], 2)), 4, 'new entries start at 4');
  t.equal(log.findConflict(ents([1, 4, 4])), 2, 'term conflict at 2');
  t.equal(log.findConflict(ents([4], 3)), 3);
});

t.test('maybeAppend: matching prefix, new entries, conflicts and commit', async (t) => {
  const base = () => new RaftLog(storageWith([1, 2, 3]), 1, 0);
  let log = base();
  t.equal(log.maybeAppend(3, 2, 3, ents([4], 4)), -1, 'prevTerm mismatch is refused');
  t.equal(log.maybeAppend(4, 3, 3, ents([4], 5)), -1, 'prevIndex beyond our log is refused');
  t.equal(log.lastIndex(), 3);

  log = base();
  t.equal(log.maybeAppend(3, 3, 3, []), 3, 'a heartbeat-like append matches');
  t.equal(log.committed, 3);

  log = base();
  t.equal(log.maybeAppend(3, 3, 10, ents([4, 4], 4)), 5);
  t.equal(log.lastIndex(), 5);
  t.equal(log.committed, 5, 'commit is capped at the last new entry');

  log = base();
  t.equal(log.maybeAppend(1, 1, 2, ents([4, 4], 2)), 3, 'conflicting suffix replaced');
  t.same(terms(log.slice(1, 4, Infinity)), [1, 4, 4]);
  t.equal(log.committed, 2);

  log = base();
  t.equal(log.maybeAppend(1, 1, 1, ents([2], 2)), 2, 'a stale, shorter append does not truncate');
  t.equal(log.lastIndex(), 3, 'entry 3 survives');
  t.equal(log.committed, 1);

  log = base();
  log.commitTo(2);
  t.throws(() => log.maybeAppend(1, 1, 2, ents([5, 5], 2)), /committed/, 'truncating a committed entry is asserted');
});

t.test('truncation inside the unstable part and stableTo', async (t) => {
  const log = new RaftLog(new MemoryStorage(), 0, 0);
  log.append(ents([1, 1, 1]));
  t.equal(log.unstable.nextEntries().length, 3);
  log.unstable.acceptInProgress();
  t.notOk(log.unstable.hasNextEntries());
  t.equal(log.maybeAppend(1, 1, 0, ents([2, 2], 2)), 3);
  t.ok(log.unstable.hasNextEntries(), 'replaced entries must be written again');
  t.same(terms(log.unstable.nextEntries()), [2, 2]);
  t.notOk(log.unstable.stableTo(3, 1), 'stableTo for replaced entries is ignored');
  t.equal(log.persistedLastIndex(), 0);
  t.ok(log.unstable.stableTo(3, 2));
  t.equal(log.persistedLastIndex(), 3);
});

t.test('5.4.1 isUpToDate: higher last term wins, then longer log', async (t) => {
  const log = new RaftLog(storageWith([1, 2, 2]), 0, 0);
  t.ok(log.isUpToDate(1, 3), 'higher term, shorter log');
  t.notOk(log.isUpToDate(9, 1), 'lower term, longer log');
  t.ok(log.isUpToDate(3, 2), 'same term, same length');
  t.ok(log.isUpToDate(4, 2));
  t.notOk(log.isUpToDate(2, 2), 'same term, shorter');
});

t.test('findConflictByTerm gives the fast back-off hint', async (t) => {
  const log = new RaftLog(storageWith([1, 1, 2, 2, 5, 5]), 0, 0);
  t.same(log.findConflictByTerm(6, 3), { index: 4, term: 2 }, 'skip the whole term-5 run');
  t.same(log.findConflictByTerm(6, 5), { index: 6, term: 5 });
  t.same(log.findConflictByTerm(4, 1), { index: 2, term: 1 });
  t.same(log.findConflictByTerm(6, 0), { index: 0, term: 0 });
});

t.test('slice crosses storage and unstable, with a byte limit', async (t) => {
  const s = new MemoryStorage();
  s.append(ents([1, 1], 1, 100));
  const log = new RaftLog(s, 0, 0);
  log.append(ents([1, 1], 3, 100));
  t.equal(log.slice(1, 5, Infinity).length, 4);
  t.same(log.slice(1, 5, 300).map((e) => e.index), [1, 2, 3]);
  t.same(log.slice(3, 5, 150).map((e) => e.index), [3]);
  t.same(log.slice(3, 5, 1).map((e) => e.index), [3], 'at least one entry');
  t.same(log.slice(2, 4, 1).map((e) => e.index), [2]);
});

t.test('committed entries are handed out only once persisted', async (t) => {
  const s = new MemoryStorage();
  const log = new RaftLog(s, 0, 0);
  log.append(ents([1, 1, 1]));
  log.commitTo(3);
  t.notOk(log.hasNextCommittedEntries(), 'nothing persisted yet');
  s.append(log.unstable.nextEntries().slice(0, 2));
  log.unstable.stableTo(2, 1);
  t.same(log.nextCommittedEntries(Infinity).map((e) => e.index), [1, 2]);
  log.appliedTo(2);
  t.throws(() => log.appliedTo(4), /appliedTo/);
});

t.test('maybeCommit counts only current-term entries unless the test bug is on', async (t) => {
  const log = new RaftLog(storageWith([1, 1, 2]), 0, 0);
  t.notOk(log.maybeCommit(2, 2), 'entry 2 is of term 1, we are in term 2');
  t.ok(log.maybeCommit(2, 2, true), 'anyTerm (commit-old-term-by-counting) commits it');
  t.ok(log.maybeCommit(3, 2));
  t.notOk(log.maybeCommit(3, 2), 'no news');
});
