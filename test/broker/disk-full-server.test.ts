// Above diskSpaceWarningLevelRatio the master refuses what adds to the log (sends, topic
// creation) with DISK_FULL naming its disk use, keeps answering reads and offset commits, and takes
// writes again by itself once the disk is back under the level. The producer does not retry it.
import t, { type Test } from 'tap';
import { BrokerServer, DiskUsage, type ApplyEntry } from '../../src/broker/index.ts';
import { Admin, Producer, PullConsumer } from '../../src/client/index.ts';
import { Role } from '../../src/raft/index.ts';
import { Harness, testServerOptions } from './harness.ts';

async function serve(t: Test, role: Role) {
  const h = new Harness();
  h.run({ kind: 'createTopic', topic: 'one', queues: 1 });
  h.send('one', 0, ['a', 'b']);
  let proposals = 0;
  const replica = {
    get role() {
      return { role, leaderId: role === Role.Leader ? 'n1' : 'n0', term: 3 };
    },
    readStaleness: () => null,
    get leaderReady() {
      return role === Role.Leader;
    },
    whenLeaderReady: async () => role === Role.Leader,
    status: () => ({ id: 'n1', role, term: 3, vote: '', leaderId: role === Role.Leader ? 'n1' : 'n0', commit: 9, applied: 9, lastIndex: 9, leaderCommit: 9, recovering: false, progress: {}, transferee: '', conf: { voters: ['n0', 'n1', 'n2'], learners: [] }, pendingConfIndex: 0 }),
    // Commits and applies at once, as a group with room on its disks would.
    propose: async (data: Uint8Array) => {
      proposals++;
      const entry: ApplyEntry = { index: h.log.entries.length + 1, term: 3, type: 0, data };
      h.log.entries.push(entry);
      return h.sm.apply(entry);
    },
    transferLeadership: () => undefined,
  };
  const disk = new DiskUsage({ dir: '/store', warningLevelPercent: 90, intervalMs: 60_000, logger: { info: () => undefined, warn: () => undefined }, statfs: async () => ({ blocks: 100, bfree: 50, bavail: 50 }) });
  await disk.start();
  const server = new BrokerServer(testServerOptions(h.sm, replica, { disk, writesStalled: () => false }));
  await server.start();
  const servers = [`127.0.0.1:${server.port}`];
  t.teardown(async () => {
    disk.close();
    await server.close();
  });
  return { disk, servers, proposals: () => proposals };
}

t.test('above the level the master answers sends and topic creation DISK_FULL naming its disk use; reads and offset commits go on; writes resume below it', async (t) => {
  const { disk, servers, proposals } = await serve(t, Role.Leader);
  const producer = new Producer({ servers, retryTimesWhenSendFailed: 2 });
  const admin = new Admin({ servers });
  const consumer = new PullConsumer({ servers, group: 'g' });
  t.teardown(async () => {
    await producer.close();
    await admin.close();
    await consumer.close();
  });
  await producer.send('one', { body: Buffer.from('c') }, { queueId: 0 });
  disk.injectUsedPercent(93.24);
  const before = proposals();
  const err = await producer.send('one', { body: Buffer.from('d') }, { queueId: 0 }).then(
    () => null,
    (e: unknown) => e as { code: string; message: string; outcome?: string },
  );
  t.match(err, { code: 'DISK_FULL', outcome: 'not-stored' });
  t.match(err?.message, /^n1 refuses writes: the store's disk is 93\.2% used \(diskSpaceWarningLevelRatio=90\); writes resume below that$/);
  await t.rejects(admin.createTopic('two', 2), { code: 'DISK_FULL' });
  t.equal(proposals(), before, 'nothing proposed');
  const pulled = await consumer.pull('one', 0, 0, { maxCount: 10 });
  t.same(pulled.messages.map((m) => m.body.toString()), ['a', 'b', 'c'], 'pulls still answer');
  await consumer.commitOffset('one', 0, 3);
  t.equal(await consumer.queryOffset('one', 0), 3, 'offset commits go on (they keep consumers\' progress)');
  const status = await admin.status(servers[0]!);
  t.match(status, { diskUsedPercent: 93.2, diskFull: true, diskWritesStalled: false }, 'status tells the disk use');
  disk.injectUsedPercent(89);
  await producer.send('one', { body: Buffer.from('e') }, { queueId: 0 });
  await admin.createTopic('two', 2);
  t.match(await admin.status(servers[0]!), { diskFull: false });
});

t.test('a slave answers writes NOT_MASTER whatever its disk (clients must still find the master)', async (t) => {
  const { disk, servers } = await serve(t, Role.Follower);
  disk.injectUsedPercent(99);
  const admin = new Admin({ servers, timeoutMs: 300 });
  t.teardown(() => admin.close());
  const err = await admin.createTopic('two', 2).then(
    () => null,
    (e: { code?: string }) => e,
  );
  t.ok(err !== null && err.code !== 'DISK_FULL', `refused as a slave refuses, not DISK_FULL: ${err?.code}`);
  t.equal(err?.code, 'NOT_MASTER', 'NOT_MASTER, naming the master');
});
