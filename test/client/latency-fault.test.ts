// RocketMQ's latency fault tolerance tables, and the route -> queue list rule.
import t from 'tap';
import { LatencyFaultTolerance, notAvailableMs, FAILURE_AS_LATENCY_MS, publishRouteOf, publishRouteOfGroup } from '../../src/client/index.ts';
import { PERM_READ, PERM_READ_WRITE } from '../../src/protocol/index.ts';

t.test('observed latency maps to the unavailable time of the issue\'s table', async (t) => {
  const cases: [number, number][] = [
    [0, 0], [49, 0], [50, 0], [99, 0], [100, 0], [549, 0], [550, 2000], [1799, 2000], [1800, 5000],
    [2999, 5000], [3000, 6000], [4999, 6000], [5000, 10_000], [14_999, 10_000], [15_000, 30_000], [60_000, 30_000],
  ];
  for (const [latency, ms] of cases) t.equal(notAvailableMs(latency), ms, `${latency} ms -> ${ms} ms`);
});

t.test('a slow or failed group is avoided until its time is up; a fast answer clears it', async (t) => {
  const f = new LatencyFaultTolerance();
  f.update('a', 600, false, 1000);
  t.notOk(f.isAvailable('a', 1000));
  t.notOk(f.isAvailable('a', 2999));
  t.ok(f.isAvailable('a', 3000), 'available again after 2000 ms');
  f.update('b', 5, true, 0);
  t.notOk(f.isAvailable('b', notAvailableMs(FAILURE_AS_LATENCY_MS) - 1), 'a failure counts as a 10 s latency');
  f.update('b', 5, false, 10);
  t.ok(f.isAvailable('b', 11), 'a fast answer clears it');
  f.update('c', 20_000, false, 0);
  f.retain(new Set(['a']));
  t.ok(f.isAvailable('c', 1), 'groups no route names are forgotten');
});

t.test('a route becomes the writable queues of every group, groups by name, then queue id', async (t) => {
  const route = publishRouteOf('T', {
    queueDatas: [
      { brokerName: 'broker-b', readQueueNums: 2, writeQueueNums: 2, perm: PERM_READ_WRITE, topicSysFlag: 0 },
      { brokerName: 'broker-a', readQueueNums: 3, writeQueueNums: 3, perm: PERM_READ_WRITE, topicSysFlag: 0 },
      { brokerName: 'broker-c', readQueueNums: 4, writeQueueNums: 4, perm: PERM_READ, topicSysFlag: 0 },
    ],
    brokerDatas: [],
  });
  t.same(
    route.queues.map((q) => `${q.brokerName}/${q.queueId}`),
    ['broker-a/0', 'broker-a/1', 'broker-a/2', 'broker-b/0', 'broker-b/1'],
    'a read-only group takes no sends',
  );
  t.same([...route.groups].sort(), ['broker-a', 'broker-b']);
  t.same(publishRouteOfGroup('T', { queues: 2 }).queues, [{ topic: 'T', brokerName: '', queueId: 0 }, { topic: 'T', brokerName: '', queueId: 1 }]);
});
