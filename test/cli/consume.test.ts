// `raftmq consume` and `raftmq offset` against one real replica (autoCreateTopicEnable on, the
// default): what an operator sees and which exit code a script gets.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { Admin, Producer, PullConsumer } from '../../src/client/index.ts';
import { TSX_LOADER } from '../../src/cli/cluster.ts';
import { LocalCluster } from '../helpers/launcher.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
/** How long one CLI run may take before the test calls it hung. */
const CLI_TIMEOUT_MS = 60_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `raftmq <args>` as its own process (the exit code is part of what is tested). */
function cli(args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', TSX_LOADER, MAIN, ...args], { timeout: CLI_TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

const cluster = await LocalCluster.create({ nodes: 1 });
t.teardown(() => cluster.destroy());
const master = await cluster.waitForMaster();
const servers = master.addr;
const producer = new Producer({ servers: [servers] });
t.teardown(() => producer.close());
const admin = new Admin({ servers: [servers] });
t.teardown(() => admin.close());

t.test('consume of a topic that does not exist says so and exits 1, though autoCreateTopicEnable is on; it creates nothing', async (t) => {
  const r = await cli(['consume', '--servers', servers, '--topic', 'nope', '--idle-timeout-ms', '300']);
  t.equal(r.code, 1, r.stderr);
  t.match(r.stderr, /topic nope does not exist/);
  t.notMatch(r.stderr, /0 messages/);
  t.equal(r.stdout, '');
  await t.rejects(admin.route('nope'), { code: 'TOPIC_NOT_FOUND' }, 'the route of an unknown topic says it does not exist');
  const consumer = new PullConsumer({ servers: [servers], group: 'g' });
  t.teardown(() => consumer.close());
  await t.rejects(async () => {
    for await (const _ of consumer.messages('nope', { idleTimeoutMs: 100 })) break;
  }, { code: 'TOPIC_NOT_FOUND', message: 'topic nope does not exist' });
  await producer.send('nope-yet', { body: Buffer.from('x') });
  t.equal((await admin.route('nope-yet')).queues, 4, 'a producer still creates a topic by sending to it');
  await t.rejects(admin.route('nope'), { code: 'TOPIC_NOT_FOUND' }, 'still not created');
});

t.test('a commit offset past the queue\'s max offset is BAD_REQUEST naming it', async (t) => {
  await admin.createTopic('commits', 1);
  for (const body of ['a', 'b', 'c']) await producer.send('commits', { body: Buffer.from(body) }, { queueId: 0 });
  const consumer = new PullConsumer({ servers: [servers], group: 'g' });
  t.teardown(() => consumer.close());
  await t.rejects(consumer.commitOffset('commits', 0, 1e15), { code: 'BAD_REQUEST', message: /past the end of commits\/0, whose max offset .* is 3/ });
  await consumer.commitOffset('commits', 0, 3);
  t.equal(await consumer.queryOffset('commits', 0), 3);
});

t.test('searchOffset through the protocol: the first message stored at or after a time, from the master', async (t) => {
  await admin.createTopic('timed', 1);
  const sentAt: number[] = [];
  for (const body of ['a', 'b', 'c']) {
    await sleep(5); // distinct store timestamps (the master's clock, in ms)
    sentAt.push(Date.now());
    await producer.send('timed', { body: Buffer.from(body) }, { queueId: 0 });
  }
  const consumer = new PullConsumer({ servers: [servers], group: 'g' });
  t.teardown(() => consumer.close());
  const stored = (await consumer.pull('timed', 0, 0, { maxCount: 10 })).messages.map((m) => m.storeTimestamp);
  t.equal(await consumer.searchOffset('timed', 0, 0), 0);
  t.equal(await consumer.searchOffset('timed', 0, stored[1]!), 1);
  t.equal(await consumer.searchOffset('timed', 0, stored[1]! + 1), 2);
  t.equal(await consumer.searchOffset('timed', 0, sentAt[2]! + 60_000), 3, 'later than every message: the max offset');
  t.equal(await admin.searchOffset('timed', 0, stored[2]!), 2, 'Admin asks the same');
  await t.rejects(consumer.searchOffset('timed', 1, 0), { code: 'BAD_REQUEST' });
  await t.rejects(consumer.searchOffset('nope', 0, 0), { code: 'TOPIC_NOT_FOUND' });
});
