// Retention and snapshots in a real group: with 1 MiB segments and a retention of seconds,
// expired messages are deleted on every replica alike (the same minimum offsets), the disk is
// freed, and a replica whose store is deleted while it is down restarts empty and catches up
// through a snapshot (the master no longer has the log it would need), under load. Afterwards
// every replica holds the same retained messages byte for byte, and no acknowledged message at
// or above its queue's minimum offset is missing.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { Producer } from '../../src/client/index.ts';
import { Connection } from '../../src/net/index.ts';
import type { NodeStatus, SendResultItem, StoredMessage } from '../../src/protocol/index.ts';
import { LocalCluster } from '../../src/cli/index.ts';
import { queuesFingerprint, sleep, waitApplied } from '../helpers/group-io.ts';

const TOPIC = 'kept';
const QUEUES = 4;
const BODY = Buffer.alloc(1000, 'r');
const EVERY_HOUR = Array.from({ length: 24 }, (_, h) => String(h)).join(';');
/** Seconds a message is kept (fileReservedTime is in hours). */
const RESERVED_SECONDS = 4;

interface Acked {
  readonly name: string;
  readonly result: SendResultItem;
}

/** Sends `count` messages, `inflight` at a time; returns what was acknowledged. */
async function send(producer: Producer, prefix: string, count: number, inflight: number, acked: Acked[]): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const name = `${prefix}-${next++}`;
      try {
        const result = await producer.send(TOPIC, { body: Buffer.concat([Buffer.from(`${name}|`), BODY]) });
        acked.push({ name, result });
      } catch {
        // not acknowledged: may or may not be stored
      }
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
}

/** Every queue's bounds and its messages from minOffset, read from one replica. */
async function readRetained(addr: string): Promise<{ bounds: [number, number][]; messages: StoredMessage[][] }> {
  const [host, port] = addr.split(':');
  const conn = new Connection({ host, port: Number(port), reconnect: 'lazy', requestTimeoutMs: 10_000 });
  try {
    const bounds: [number, number][] = [];
    const messages: StoredMessage[][] = [];
    for (let q = 0; q < QUEUES; q++) {
      const list: StoredMessage[] = [];
      let offset = 0;
      let min = -1;
      let max = 0;
      for (;;) {
        const r = await conn.request<{ type: 'pullResult'; id: number; messages: StoredMessage[]; nextOffset: number; minOffset: number; maxOffset: number }>({
          type: 'pull', topic: TOPIC, queueId: q, offset, maxCount: 1024, maxBytes: 4 << 20, waitMs: 0,
        } as never);
        if (min < 0) min = r.minOffset;
        max = r.maxOffset;
        list.push(...r.messages);
        if (r.nextOffset === offset || r.nextOffset >= r.maxOffset) break;
        offset = r.nextOffset;
      }
      bounds.push([min, max]);
      messages.push(list);
    }
    return { bounds, messages };
  } finally {
    await conn.close();
  }
}

/** Live segments only: files kept for reuse (`*.recycled`, recycledSegmentsMax) are not the log's. */
function segmentCount(dir: string): number {
  return fs.readdirSync(path.join(dir, 'commitlog', 'data')).filter((f) => !f.endsWith('.recycled')).length;
}

async function statusOf(cluster: LocalCluster, id: string): Promise<NodeStatus | null> {
  return (await cluster.statuses())[cluster.nodes.findIndex((n) => n.id === id)] ?? null;
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

t.test('expired messages are deleted alike on every replica; a replica that lost its store catches up through a snapshot under load', async (t) => {
  const cluster = await LocalCluster.create({
    nodes: 3,
    extra: {
      mappedFileSizeCommitLog: String(1024 * 1024),
      fileReservedTime: String(RESERVED_SECONDS / 3600),
      deleteWhen: EVERY_HOUR,
      checkpointIntervalMs: '200',
    },
  });
  t.teardown(() => cluster.destroy());
  const master = await cluster.waitForMaster();
  const producer = new Producer({ servers: cluster.servers, sendTimeoutMs: 10_000 });
  t.teardown(() => producer.close());
  const acked: Acked[] = [];
  // About 8 MB: eight segments, so several marks.
  await send(producer, 'old', 8000, 64, acked);
  t.equal(acked.length, 8000, 'the first 8,000 are acknowledged');

  // They expire; the master cuts the log and every replica deletes the segments below the cut.
  const cut = await until('a cut on every replica and segments deleted', 60_000, async () => {
    const all = await cluster.statuses();
    if (all.some((s) => s === null || (s.retainedFrom ?? 1) <= 1 || (s.firstIndex ?? 1) <= 1)) return undefined;
    // The first index moves (durably) before the segments below it are renamed away.
    if (!cluster.nodes.every((n) => segmentCount(n.dir) < 8)) return undefined;
    return all.map((s) => s!.retainedFrom!);
  });
  t.comment(`cut at ${JSON.stringify(cut)}; segments per replica: ${cluster.nodes.map((n) => segmentCount(n.dir)).join(', ')}`);
  t.pass('expired segments are gone from every replica (the wait above fails the test otherwise)');

  // A slave loses its store while it is down, and comes back empty while clients write.
  const victim = cluster.nodes.find((n) => n.id !== master.nodeId)!.id;
  await cluster.kill(victim);
  cluster.wipe(victim);
  const loading = send(producer, 'new', 4000, 16, acked);
  await sleep(300);
  cluster.start(victim);
  await until(`${victim} caught up`, 60_000, async () => {
    const m = await statusOf(cluster, (await cluster.waitForMaster(30_000)).nodeId);
    const v = await statusOf(cluster, victim);
    return m !== null && v !== null && v.appliedIndex >= m.commitIndex && !v.recovering ? true : undefined;
  });
  await loading;
  const log = fs.readFileSync(path.join(cluster.nodes.find((n) => n.id === victim)!.dir, 'logs', 'broker.log'), 'utf8');
  t.match(log, /installed a snapshot from the master/, `${victim} installed a snapshot (its log now starts after the mark)`);
  for (const n of cluster.nodes) t.ok(cluster.running(n.id), `${n.id} is running`);

  // Every replica: the same bounds and the same messages from minOffset, byte for byte.
  const now = await cluster.waitForMaster(30_000);
  await waitApplied(cluster, (await statusOf(cluster, now.nodeId))!.commitIndex, 60_000);
  const views = await Promise.all(cluster.nodes.map((n) => readRetained(n.clientAddr)));
  const reference = views[cluster.nodes.findIndex((n) => n.id === now.nodeId)]!;
  for (let i = 0; i < views.length; i++) {
    t.same(views[i]!.bounds, reference.bounds, `${cluster.nodes[i]!.id}: the same queue bounds as the master`);
    t.equal(queuesFingerprint(views[i]!.messages), queuesFingerprint(reference.messages), `${cluster.nodes[i]!.id}: the same retained messages byte for byte`);
  }
  t.ok(reference.bounds.some(([min]) => min > 0), `messages were deleted (bounds ${JSON.stringify(reference.bounds)})`);
  // Nothing acknowledged at or above its queue's minOffset is missing (or changed).
  const stored = new Map<string, StoredMessage>();
  for (const q of reference.messages) for (const m of q) stored.set(`${m.queueId}:${m.queueOffset}`, m);
  const missing = acked.filter((a) => a.result.queueOffset >= reference.bounds[a.result.queueId]![0] && Buffer.from(stored.get(`${a.result.queueId}:${a.result.queueOffset}`)?.body ?? []).toString().split('|')[0] !== a.name);
  t.same(missing.slice(0, 5).map((a) => a.name), [], `every acknowledged message still retained is stored (${acked.length} acknowledged, ${stored.size} retained)`);
});
