// `raftmq consume` and `raftmq offset` against one real replica (autoCreateTopicEnable on, the
// default): what an operator sees and which exit code a script gets.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { Admin, Producer, PullConsumer } from '../../src/client/index.ts';
import { LOADER_FLAGS, LocalCluster } from '../../src/cli/index.ts';

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
    execFile(process.execPath, [...LOADER_FLAGS, MAIN, ...args], { timeout: CLI_TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
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

/** The message lines of a `consume --json` run. */
const bodies = (r: CliResult) => r.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { body: string }).body);

t.test('consume --from-beginning, run twice, prints the same messages and leaves the group\'s offsets as they were (the README tour)', async (t) => {
  await admin.createTopic('tour', 4);
  await producer.send('tour', { keys: 'order-1', body: Buffer.from('hello') });
  await Promise.all(Array.from({ length: 40 }, (_, i) => producer.send('tour', { body: Buffer.from(`m-${i}`) })));
  const args = ['consume', '--servers', servers, '--topic', 'tour', '--from-beginning', '--idle-timeout-ms', '500', '--json'];
  const first = await cli([...args, '--count', '5']);
  const second = await cli([...args, '--count', '5']);
  t.equal(first.code, 0, first.stderr);
  t.equal(bodies(first).length, 5);
  t.same(bodies(second), bodies(first), 'the same five messages, in the same order');
  const all = [await cli(args), await cli(args)];
  t.equal(bodies(all[0]).length, 41);
  t.same(bodies(all[1]).sort(), bodies(all[0]).sort(), 'a whole replay twice: the same messages');
  t.same((await admin.consumerProgress('raftmq-cli', 'tour')).map((p) => p.offset), [-1, -1, -1, -1], 'the CLI\'s default group committed nothing');
  const both = await cli([...args, '--from', 'first']);
  t.equal(both.code, 2);
  t.match(both.stderr, /--from-beginning and --from exclude each other/);
});

t.test('consume --from last on a new group starts at the end; that start is committed, so the next run reads what came after', async (t) => {
  const args = ['consume', '--servers', servers, '--topic', 'tour', '--group', 'late', '--idle-timeout-ms', '300', '--json'];
  const first = await cli([...args, '--from', 'last']);
  t.equal(first.code, 0, first.stderr);
  t.same(bodies(first), [], 'nothing: every stored message is older than the group');
  t.same((await admin.consumerProgress('late', 'tour')).map((p) => p.lag), [0, 0, 0, 0], 'each queue\'s end is now the group\'s offset');
  await producer.send('tour', { body: Buffer.from('after') });
  t.same(bodies(await cli(args)), ['after']);
  const early = await cli(['consume', '--servers', servers, '--topic', 'tour', '--group', 'early', '--from', 'first', '--idle-timeout-ms', '300', '--json']);
  t.equal(bodies(early).length, 42, '--from first on a new group: every message');
});

t.test('consume --idle-timeout-ms 0 waits for a message however long (0 means never stop for idleness)', async (t) => {
  const since = Date.now();
  const run = cli(['consume', '--servers', servers, '--topic', 'tour', '--group', 'patient', '--from', String(since), '--idle-timeout-ms', '0', '--count', '1', '--json']);
  await sleep(1500);
  await producer.send('tour', { body: Buffer.from('worth-the-wait') });
  const r = await run;
  t.equal(r.code, 0, r.stderr);
  t.same(bodies(r), ['worth-the-wait']);
});

t.test('offset reset --timestamp moves a group back to the first message stored at or after the time; offset show gives offsets and lag', async (t) => {
  await admin.createTopic('reset', 2);
  await Promise.all(['a0', 'a1', 'a2', 'a3'].map((b) => producer.send('reset', { body: Buffer.from(b) })));
  await sleep(20);
  const mid = new Date();
  await sleep(20);
  await Promise.all(['b0', 'b1'].map((b) => producer.send('reset', { body: Buffer.from(b) })));
  const read = await cli(['consume', '--servers', servers, '--topic', 'reset', '--group', 'r', '--from', 'first', '--idle-timeout-ms', '300', '--json']);
  t.equal(bodies(read).length, 6);
  const shown = await cli(['offset', 'show', '--servers', servers, '--group', 'r', '--topic', 'reset', '--json']);
  t.equal(shown.code, 0, shown.stderr);
  t.same(shown.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).map((p: { offset: number; lag: number }) => [p.offset, p.lag]), [[3, 0], [3, 0]]);
  const reset = await cli(['offset', 'reset', '--servers', servers, '--group', 'r', '--topic', 'reset', '--timestamp', mid.toISOString()]);
  t.equal(reset.code, 0, reset.stderr);
  t.equal(reset.stdout, 'queue 0: 3 -> 2\nqueue 1: 3 -> 2\n');
  const table = await cli(['offset', 'show', '--servers', servers, '--group', 'r', '--topic', 'reset']);
  t.equal(table.stdout, 'queue  min  max  offset  lag\n    0    0    3       2    1\n    1    0    3       2    1\ntotal lag 2\n');
  t.same(bodies(await cli(['consume', '--servers', servers, '--topic', 'reset', '--group', 'r', '--idle-timeout-ms', '300', '--json'])).sort(), ['b0', 'b1']);
  const bad = await cli(['offset', 'reset', '--servers', servers, '--group', 'r', '--topic', 'reset', '--timestamp', 'yesterday']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--timestamp must be ms since the epoch or an ISO 8601 time/);
  const none = await cli(['offset', 'show', '--servers', servers, '--group', 'r', '--topic', 'nope']);
  t.equal(none.code, 1);
  t.match(none.stderr, /topic nope does not exist/);
});
