import t from 'tap';
import { Inflights, Progress, ProgressState } from '../../src/raft/index.ts';

t.test('inflights: bounded ring, freed in order', async (t) => {
  const inf = new Inflights(3);
  inf.add(5);
  inf.add(7);
  inf.add(9);
  t.ok(inf.full());
  t.throws(() => inf.add(11), /full/, 'adding past the bound is a programmer error');
  inf.freeLE(6);
  t.equal(inf.count, 2);
  t.notOk(inf.full());
  inf.add(11); // wraps around the ring
  t.equal(inf.count, 3);
  inf.freeLE(9);
  t.equal(inf.count, 1);
  inf.freeLE(100);
  t.equal(inf.count, 0);
  t.throws(() => {
    inf.add(4);
    inf.add(3);
  }, /not above/, 'indexes must increase');
});

t.test('inflights: freeFirstOne frees only the oldest', async (t) => {
  const inf = new Inflights(4);
  inf.add(1);
  inf.add(2);
  inf.add(3);
  inf.freeFirstOne();
  t.equal(inf.count, 2);
  inf.freeLE(2);
  t.equal(inf.count, 1);
});

t.test('progress: probe sends one append at a time', async (t) => {
  const pr = new Progress(0, 5, 4);
  t.equal(pr.state, ProgressState.Probe);
  t.notOk(pr.isPaused());
  pr.sentEntries(3, 7);
  t.ok(pr.isPaused(), 'paused until a response');
  t.equal(pr.next, 5, 'probe does not advance next optimistically');
  t.ok(pr.maybeUpdate(7));
  t.notOk(pr.isPaused());
  t.equal(pr.match, 7);
  t.equal(pr.next, 8);
});

t.test('progress: replicate pipelines up to the window', async (t) => {
  const pr = new Progress(4, 5, 2);
  pr.becomeReplicate();
  pr.sentEntries(2, 6);
  t.equal(pr.next, 7, 'next advances optimistically');
  t.notOk(pr.isPaused());
  pr.sentEntries(2, 8);
  t.ok(pr.isPaused(), 'window of 2 is full');
  t.ok(pr.maybeUpdate(6));
  pr.inflights.freeLE(6);
  t.notOk(pr.isPaused());
  t.equal(pr.next, 9);
});

t.test('progress: maybeDecrTo ignores stale rejections and backs off', async (t) => {
  const pr = new Progress(0, 11, 4);
  t.notOk(pr.maybeDecrTo(5, 5), 'probe: rejection of an append we did not just send is stale');
  t.ok(pr.maybeDecrTo(10, 3));
  t.equal(pr.next, 4, 'jumps to the hint + 1');
  const rp = new Progress(5, 6, 4);
  rp.becomeReplicate();
  rp.sentEntries(4, 9);
  t.notOk(rp.maybeDecrTo(4, 4), 'replicate: rejection at or below match is stale');
  t.ok(rp.maybeDecrTo(9, 6));
  t.equal(rp.next, 6, 'replicate: back to match + 1');
});

t.test('progress: maybeUpdate reports only news', async (t) => {
  const pr = new Progress(3, 4, 4);
  t.notOk(pr.maybeUpdate(2));
  t.ok(pr.maybeUpdate(4));
  t.notOk(pr.maybeUpdate(4));
  t.throws(() => new Progress(4, 4, 1), /below next/);
});

t.test('inflights: the window is full once its bytes reach the limit; one append may pass it', async (t) => {
  const inf = new Inflights(100, 1000);
  inf.add(1, 600);
  t.notOk(inf.full(), '600 of 1000 bytes');
  inf.add(2, 900);
  t.ok(inf.full(), 'an append may take the window past its bytes limit, then it is full');
  t.equal(inf.bytes, 1500);
  inf.freeLE(1);
  t.equal(inf.bytes, 900);
  t.notOk(inf.full());
  inf.freeFirstOne();
  t.equal(inf.bytes, 0);
  inf.add(3, 10);
  inf.reset();
  t.equal(inf.bytes, 0, 'reset forgets the bytes too');
});

t.test('progress: a follower whose log ends below its match (a wiped store) is probed from where its log ends', async (t) => {
  const pr = new Progress(0, 1, 4);
  pr.becomeReplicate();
  pr.maybeUpdate(377);
  pr.becomeProbe(); // its connection reset when it was killed
  t.equal(pr.next, 378);
  t.ok(pr.maybeDecrTo(377, 0), 'the probe at 377 is refused: its log is empty');
  t.equal(pr.match, 0, 'match comes down to what the follower holds');
  t.equal(pr.next, 1, 'and the leader sends from the first entry');
  const healthy = new Progress(5, 6, 4);
  t.ok(healthy.maybeDecrTo(5, 7), 'a hint above match leaves match alone');
  t.equal(healthy.match, 5);
});
