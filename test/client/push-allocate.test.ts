// Property: for every strategy that divides queues among members, the members' allocations are
// disjoint and together cover every queue, each member's answer depends only on the two sorted
// lists, and the averaging strategies differ by at most one queue between members. The seed is
// printed; SEED=<n> replays it.
import t from 'tap';
import fc from 'fast-check';
import {
  AllocateMessageQueueAveragely,
  AllocateMessageQueueAveragelyByCircle,
  AllocateMessageQueueByConfig,
  AllocateMessageQueueConsistentHash,
  compareQueues,
  queueIdOf,
  type AllocateStrategy,
  type MessageQueue,
} from '../../src/client/index.ts';

const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);

const arbQueues: fc.Arbitrary<MessageQueue[]> = fc
  .uniqueArray(fc.record({ topic: fc.constantFrom('T', 'U', '%RETRY%G'), brokerName: fc.constantFrom('', 'broker-a', 'broker-b'), queueId: fc.nat({ max: 15 }) }), {
    maxLength: 40,
    selector: queueIdOf,
  })
  .map((qs) => qs.sort(compareQueues));
const arbClients = fc.uniqueArray(fc.stringMatching(/^[a-z0-9.@]{1,12}$/), { minLength: 1, maxLength: 12 }).map((ids) => ids.sort());

const strategies: readonly [AllocateStrategy, boolean][] = [
  [new AllocateMessageQueueAveragely(), true],
  [new AllocateMessageQueueAveragelyByCircle(), true],
  [new AllocateMessageQueueConsistentHash(), false],
];

t.test('every dividing strategy: disjoint, covering, deterministic; the averaging ones balanced within one queue', async (t) => {
  t.comment(`seed ${seed} (SEED=${seed} replays)`);
  for (const [strategy, balanced] of strategies) {
    fc.assert(
      fc.property(arbQueues, arbClients, (queues, clients) => {
        const owners = new Map<string, string>();
        const sizes: number[] = [];
        for (const c of clients) {
          const mine = strategy.allocate('G', c, queues, clients);
          // The same lists (copies) give the same answer.
          if (JSON.stringify(strategy.allocate('G', c, [...queues], [...clients])) !== JSON.stringify(mine)) throw new Error(`${strategy.name}: not deterministic`);
          sizes.push(mine.length);
          for (const q of mine) {
            const k = queueIdOf(q);
            if (owners.has(k)) throw new Error(`${strategy.name}: ${k} given to ${owners.get(k)} and ${c}`);
            owners.set(k, c);
          }
        }
        if (owners.size !== queues.length) throw new Error(`${strategy.name}: ${queues.length - owners.size} queues without an owner`);
        if (balanced && Math.max(...sizes) - Math.min(...sizes) > 1) throw new Error(`${strategy.name}: unbalanced ${sizes.join(',')}`);
        if (strategy.allocate('G', 'not-a-member', queues, clients).length !== 0) throw new Error(`${strategy.name}: a non-member got queues`);
      }),
      { numRuns: 300, seed },
    );
    t.pass(strategy.name);
  }
});

const q = (queueId: number): MessageQueue => ({ topic: 'T', brokerName: 'b', queueId });

t.test("Averagely is RocketMQ's arithmetic: contiguous blocks, the first members one more", async (t) => {
  const s = new AllocateMessageQueueAveragely();
  const queues = [0, 1, 2, 3, 4, 5, 6, 7].map(q);
  t.strictSame(['a', 'b', 'c'].map((c) => s.allocate('G', c, queues, ['a', 'b', 'c']).map((x) => x.queueId)), [[0, 1, 2], [3, 4, 5], [6, 7]]);
  t.strictSame(['a', 'b', 'c'].map((c) => s.allocate('G', c, queues.slice(0, 2), ['a', 'b', 'c']).map((x) => x.queueId)), [[0], [1], []]);
});

t.test('AveragelyByCircle deals queues round robin', async (t) => {
  const s = new AllocateMessageQueueAveragelyByCircle();
  const queues = [0, 1, 2, 3, 4].map(q);
  t.strictSame(['a', 'b'].map((c) => s.allocate('G', c, queues, ['a', 'b']).map((x) => x.queueId)), [[0, 2, 4], [1, 3]]);
});

t.test('ConsistentHash moves only some queues when a member joins', async (t) => {
  const s = new AllocateMessageQueueConsistentHash();
  const queues = Array.from({ length: 64 }, (_, i) => q(i));
  const before = new Map(['a', 'b', 'c'].flatMap((c) => s.allocate('G', c, queues, ['a', 'b', 'c']).map((x) => [x.queueId, c] as const)));
  const after = new Map(['a', 'b', 'c', 'd'].flatMap((c) => s.allocate('G', c, queues, ['a', 'b', 'c', 'd']).map((x) => [x.queueId, c] as const)));
  const moved = queues.filter((x) => before.get(x.queueId) !== after.get(x.queueId));
  t.ok(moved.every((x) => after.get(x.queueId) === 'd'), 'every moved queue went to the new member');
  t.ok(moved.length > 0 && moved.length < 64, `${moved.length} of 64 moved`);
  t.throws(() => new AllocateMessageQueueConsistentHash(0), TypeError);
});

t.test('ByConfig answers its list whatever the members', async (t) => {
  const s = new AllocateMessageQueueByConfig([q(3), q(1)]);
  t.strictSame(s.allocate(), [q(3), q(1)]);
});
