// Tag filtering of pulls (reads.ts through the state machine and the server) and slave-read
// suggestions (consumer-groups/slave-read.ts): a far-behind consumer is sent to a caught-up
// slave, a slave sends a consumer that caught up (or any, when slave reads are off) to the master.
import t from 'tap';
import { BrokerServer, suggestNodeIdOf, TagFilterCache, TAG_FILTER_CACHE_COUNT_MAX, TAG_FILTER_SCAN_FACTOR, type SlaveReadSettings } from '../../src/broker/index.ts';
import { Connection } from '../../src/net/index.ts';
import { Role, type RaftStatus } from '../../src/raft/index.ts';
import { Harness, testServerOptions } from './harness.ts';

function harnessWithTags(tags: (string | undefined)[]): Harness {
  const h = new Harness();
  h.run({ kind: 'createTopic', topic: 'orders', queues: 1 });
  h.run(h.sm.prepareSend('orders', 0, tags.map((tag, i) => ({ body: Buffer.from(`m${i}`), ...(tag !== undefined ? { tags: tag } : {}) })), 1000));
  return h;
}

t.test('a tag-filtered pull returns only accepted tags and moves nextOffset past the skipped ones', async (t) => {
  const h = harnessWithTags(['A', 'B', undefined, 'A', 'C', 'B']);
  const r = h.sm.pull('orders', 0, 0, 2, 1 << 20, new Set(['A']));
  t.same(r.messages.map((m) => m.queueOffset), [0, 3]);
  t.equal(r.nextOffset, 4, 'stops after the second match');
  const rest = h.sm.pull('orders', 0, 4, 10, 1 << 20, new Set(['B', 'C']));
  t.same(rest.messages.map((m) => m.tags), ['C', 'B']);
  t.equal(rest.nextOffset, 6);
  const none = h.sm.pull('orders', 0, 0, 10, 1 << 20, new Set(['Z']));
  t.same(none.messages, []);
  t.equal(none.nextOffset, 6, 'all skipped: nextOffset at the end, the consumer never reads them again');
  t.same(h.sm.pull('orders', 0, 0, 10, 1 << 20).messages.length, 6, 'no filter: every message');
});

t.test('a filtered pull looks at most TAG_FILTER_SCAN_FACTOR x maxCount messages', async (t) => {
  const h = harnessWithTags([...Array.from({ length: TAG_FILTER_SCAN_FACTOR * 2 + 5 }, () => 'X'), 'A']);
  const r = h.sm.pull('orders', 0, 0, 1, 1 << 20, new Set(['A']));
  t.same(r.messages, []);
  t.equal(r.nextOffset, TAG_FILTER_SCAN_FACTOR, 'one bounded scan');
  const r2 = h.sm.pull('orders', 0, 0, 2, 1 << 20, new Set(['A']));
  t.equal(r2.nextOffset, 2 * TAG_FILTER_SCAN_FACTOR);
});

t.test('the tag filter cache parses each expression once, bounded, and refuses bad ones', async (t) => {
  const cache = new TagFilterCache();
  t.equal(cache.tagsOf(undefined), null);
  t.equal(cache.tagsOf('*'), null);
  t.same([...cache.tagsOf(' A || B ')!], ['A', 'B']);
  t.equal(cache.tagsOf(' A || B '), cache.tagsOf(' A || B '), 'the same set object: parsed once');
  for (let i = 0; i < TAG_FILTER_CACHE_COUNT_MAX + 10; i++) cache.tagsOf(`T${i}`);
  t.equal(cache.size, TAG_FILTER_CACHE_COUNT_MAX);
  t.throws(() => cache.tagsOf(5), { code: 'BAD_REQUEST' });
  t.throws(() => cache.tagsOf('x'.repeat(5000)), { code: 'BAD_REQUEST' });
});

function status(over: Partial<RaftStatus>): RaftStatus {
  const pr = (match: number, recentActive = true) => ({ match, next: match + 1, state: 'Replicate' as const, pendingSnapshot: 0, inflight: 0, inflightBytes: 0, recentActive, learner: false });
  return {
    id: 'n1', role: Role.Leader, term: 3, vote: 'n1', leaderId: 'n1', commit: 1000, applied: 1000, lastIndex: 1000, leaderCommit: 1000, recovering: false,
    progress: { n0: pr(1000), n2: pr(1000) }, transferee: '', conf: { voters: ['n0', 'n1', 'n2'], learners: [] }, pendingConfIndex: 0,
    ...over,
  };
}

/** A log of 1000 entries of 1 MiB each: bytesAfter(i) = (1000 - i) MiB. */
const settings = (enable: boolean): SlaveReadSettings => ({ enable, ratioPercent: 40, memoryBytes: 10 * 2 ** 20, bytesAfter: (i) => (1000 - i) * 2 ** 20 });

t.test('the master suggests a caught-up live slave for a consumer far behind, spreading queues; nothing otherwise', async (t) => {
  // Threshold: 40% of 10 MiB = 4 MiB; reading entry 990 leaves 11 MiB, entry 997 leaves 4 MiB.
  t.equal(suggestNodeIdOf(settings(true), 'n1', status({}), { firstLogIndex: 990, queueId: 0 }), 'n0');
  t.equal(suggestNodeIdOf(settings(true), 'n1', status({}), { firstLogIndex: 990, queueId: 1 }), 'n2', 'queues spread over the slaves');
  t.equal(suggestNodeIdOf(settings(true), 'n1', status({}), { firstLogIndex: 997, queueId: 0 }), undefined, 'within memory: stay');
  t.equal(suggestNodeIdOf(settings(false), 'n1', status({}), { firstLogIndex: 10, queueId: 0 }), undefined, 'slaveReadEnable=false: stay');
  t.equal(suggestNodeIdOf(settings(true), 'n1', status({}), { firstLogIndex: 0, queueId: 0 }), undefined, 'nothing read: stay');
  const lagging = status({ progress: { n0: { ...status({}).progress.n0!, match: 10 }, n2: { ...status({}).progress.n2!, recentActive: false } } });
  t.equal(suggestNodeIdOf(settings(true), 'n1', lagging, { firstLogIndex: 990, queueId: 0 }), undefined, 'a lagging or silent slave is never suggested');
});

t.test('a slave sends a consumer that caught up, or any when slave reads are off, to the master; none when no master is known', async (t) => {
  const slave = status({ role: Role.Follower, leaderId: 'n0', progress: {} });
  t.equal(suggestNodeIdOf(settings(true), 'n1', slave, { firstLogIndex: 990, queueId: 0 }), undefined, 'far behind: stay on the slave');
  t.equal(suggestNodeIdOf(settings(true), 'n1', slave, { firstLogIndex: 999, queueId: 0 }), 'n0', 'caught up: back to the master');
  t.equal(suggestNodeIdOf(settings(true), 'n1', slave, { firstLogIndex: 0, queueId: 0 }), 'n0', 'at the slave\'s end: the master has the newest first');
  t.equal(suggestNodeIdOf(settings(false), 'n1', slave, { firstLogIndex: 990, queueId: 0 }), 'n0', 'slave reads off: the master');
  t.equal(suggestNodeIdOf(settings(true), 'n1', status({ role: Role.Follower, leaderId: '', progress: {} }), { firstLogIndex: 0, queueId: 0 }), undefined, 'no master: keep reading here');
});

t.test('through the server: the pull answer carries suggestNodeId; an expression filters; a pull that skipped everything is answered at once', async (t) => {
  const h = harnessWithTags(['A', 'B', 'B', 'A']);
  const st = { role: Role.Leader };
  const replica = {
    get role() {
      return { role: st.role, leaderId: st.role === Role.Leader ? 'n1' : 'n0', term: 3 };
    },
    readStaleness: () => null,
    leaderReady: true,
    whenLeaderReady: async () => true,
    status: () => status({ role: st.role, leaderId: st.role === Role.Leader ? 'n1' : 'n0' }),
  };
  const slaveRead: SlaveReadSettings = { enable: true, ratioPercent: 40, memoryBytes: 0, bytesAfter: () => 1 };
  const server = new BrokerServer(testServerOptions(h.sm, replica, { slaveRead }));
  await server.start();
  const conn = new Connection({ host: '127.0.0.1', port: server.port, reconnect: 'lazy' });
  t.teardown(async () => {
    await conn.close();
    await server.close();
  });
  const pull = (extra: object) => conn.request<{ type: string; id: number } & Record<string, unknown>>({ type: 'pull', topic: 'orders', queueId: 0, offset: 0, maxCount: 10, maxBytes: 1 << 20, waitMs: 0, ...extra } as never);
  const r = await pull({ expression: 'B' });
  t.match(r, { type: 'pullResult', nextOffset: 4, suggestNodeId: 'n0' }, 'far behind (any backlog over a 0-byte memory): the first caught-up slave');
  t.same((r.messages as { queueOffset: number }[]).map((m) => m.queueOffset), [1, 2]);
  const skipped = await pull({ offset: 3, expression: 'B', waitMs: 30_000 });
  t.match(skipped, { type: 'pullResult', messages: [], nextOffset: 4 }, 'skipped all it read: answered at once, not parked');
  st.role = Role.Follower;
  t.match(await pull({ offset: 4 }), { suggestNodeId: 'n0' }, 'on a slave, a consumer at the end goes to the master');
  await t.rejects(pull({ expression: 7 }), { code: 'BAD_REQUEST' });
});
