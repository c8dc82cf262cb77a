// A group of three real replicas, each on a small filesystem of its own (a loop-mounted ext4
// image, the closest to a real disk: O_DIRECT, real block allocation and ENOSPC; a size-limited
// tmpfs where loop devices are not available). A slave whose filesystem fills up completely gets
// ENOSPC on its commitlog writes: it stalls and does not exit, and catches up once space is back.
// Filled to diskSpaceWarningLevelRatio, the master refuses sends with DISK_FULL naming its disk
// use while reads go on; once a filler file is removed, writes resume by themselves. Every
// acknowledged message is readable on every replica at the end, and no process ever exits.
// Needs root (mount); skipped with the reason otherwise.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { Admin, Producer } from '../../src/client/index.ts';
import { LocalCluster } from '../../src/cli/index.ts';
import type { NodeStatus } from '../../src/protocol/index.ts';
import { bodyText, readAll, sleep } from '../helpers/group-io.ts';
import { mountSmallFs, unmount, type FsKind } from '../helpers/small-fs.ts';
import { usedPercentOf } from '../../src/broker/index.ts';

const FS_BYTES = 64 * 1024 * 1024;
const WARNING_LEVEL = 60;
const QUEUES = 2;
const BODY_BYTES = 8 * 1024;

/** The filesystem this machine lets us mount, or why none. */
function probe(): { kind: FsKind } | { reason: string } {
  if (process.getuid?.() !== 0) return { reason: 'needs root to mount small filesystems' };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftmq-fs-probe-'));
  try {
    for (const kind of ['ext4', 'tmpfs'] as const) {
      try {
        mountSmallFs(kind, path.join(dir, 'm'), FS_BYTES, dir);
        unmount(path.join(dir, 'm'));
        return { kind };
      } catch {
        unmount(path.join(dir, 'm'));
      }
    }
    return { reason: 'cannot mount a loop ext4 image or a tmpfs here' };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function usedPercent(dir: string): number {
  return usedPercentOf(fs.statfsSync(dir));
}

/** Writes zeros to `file` until the filesystem of `dir` is `percent` used, or (Infinity) until
 *  it is full even for root (the replicas run as root: ext4's reserved blocks are theirs too). */
function fillTo(dir: string, file: string, percent: number): void {
  const fd = fs.openSync(file, 'a');
  try {
    for (const size of [256 * 1024, 4096]) {
      const chunk = Buffer.alloc(size);
      try {
        while (usedPercent(dir) < percent) fs.writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
    fs.fsyncSync(fd);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    fs.closeSync(fd);
  }
}

async function until<T>(what: string, get: () => Promise<T | null | undefined | false>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms; // a liveness guard only
  for (;;) {
    const v = await get();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const found = probe();
if ('reason' in found) {
  t.test('a full disk in a real group', { skip: found.reason }, async () => {});
} else {
  t.test(`a full disk in a real group (${found.kind}, ${FS_BYTES >> 20} MiB per replica): no replica exits, DISK_FULL above the warning level, writes resume by themselves`, async (t) => {
    const imageDir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftmq-fs-images-'));
    const mounts: string[] = [];
    let cluster: LocalCluster | null = null;
    t.teardown(async () => {
      if (cluster !== null) await Promise.all(cluster.nodes.map((n) => cluster!.kill(n.id)));
      for (const dir of mounts) unmount(dir);
      if (cluster !== null) fs.rmSync(cluster.root, { recursive: true, force: true });
      fs.rmSync(imageDir, { recursive: true, force: true });
    });
    cluster = await LocalCluster.create({
      nodes: 3,
      extra: {
        diskMaxUsedSpaceRatio: '50',
        diskSpaceCleanForciblyRatio: '55',
        diskSpaceWarningLevelRatio: String(WARNING_LEVEL),
        diskCheckIntervalMs: '100',
        mappedFileSizeCommitLog: String(4 * 1024 * 1024),
      },
      prepare: (_id, dir) => {
        mountSmallFs(found.kind, dir, FS_BYTES, imageDir);
        mounts.push(dir);
      },
    });
    const c = cluster;
    const exits: string[] = [];
    for (const n of c.nodes) n.proc?.once('exit', (code, signal) => exits.push(`${n.id} exited (${code ?? signal})`));
    const master = await c.waitForMaster(20_000);
    const producer = new Producer({ servers: c.servers, sendTimeoutMs: 10_000 });
    t.teardown(() => producer.close());
    const acked = new Set<string>();
    let n = 0;
    const send = async (): Promise<void> => {
      const body = Buffer.alloc(BODY_BYTES, 0x61);
      const tag = `m-${n++}-`;
      body.write(tag);
      await producer.send('full', { body }, { queueId: n % QUEUES });
      acked.add(bodyText({ body } as never));
    };
    const admin = new Admin({ servers: c.servers, timeoutMs: 1000 });
    t.teardown(() => admin.close());
    const status = (addr: string): Promise<NodeStatus | null> => admin.status(addr).catch(() => null);
    await send();

    // 1. A slave's filesystem fills up completely: its commitlog writes get ENOSPC.
    const slave = c.nodes.find((x) => x.id !== master.nodeId)!;
    fillTo(slave.dir, path.join(slave.dir, 'filler-all'), Infinity);
    for (let i = 0; i < 200; i++) await send(); // the master and the other slave commit them
    const stalled = await until('the slave to stall', async () => {
      const st = await status(slave.clientAddr);
      return st?.diskWritesStalled === true ? st : null;
    });
    t.ok(stalled.diskUsedPercent! > 99, `the slave's disk is full (${stalled.diskUsedPercent}%) and its writes wait`);
    t.ok(c.running(slave.id), 'the slave is still running');
    fs.rmSync(path.join(slave.dir, 'filler-all'));
    const masterCommit = (await status(master.addr))!.commitIndex;
    await until('the slave to catch up', async () => {
      const st = await status(slave.clientAddr);
      return st !== null && !st.diskWritesStalled && st.appliedIndex >= masterCommit && st.lastIndex >= masterCommit;
    });
    t.pass('the slave caught up once there was space');

    // 2. Every replica's disk fills to the warning level: the master refuses writes.
    for (const x of c.nodes) fillTo(x.dir, path.join(x.dir, 'filler'), WARNING_LEVEL - 8);
    let refusal: Error & { code?: string } = new Error('none');
    for (let i = 0; i < 20_000; i++) {
      try {
        await send();
      } catch (err) {
        refusal = err as Error & { code?: string };
        break;
      }
    }
    t.equal(refusal.code, 'DISK_FULL', `writes are refused: ${refusal.message}`);
    t.match(refusal.message, new RegExp(`the store's disk is \\d+\\.\\d% used \\(diskSpaceWarningLevelRatio=${WARNING_LEVEL}\\); writes resume below that$`));
    await t.rejects(send(), { code: 'DISK_FULL' }, 'and stay refused');
    const st = (await status(master.addr))!;
    t.match(st, { role: 'MASTER', diskFull: true }, 'the master says its disk is full');
    const view = (await readAll(master.addr, 'full', QUEUES)).flat().map(bodyText);
    t.equal(new Set(view).size, acked.size, 'reads go on: every acknowledged message is readable from the master');
    t.same(exits, [], 'no process exited');

    // 3. Space comes back (the filler files go): writes resume by themselves.
    const freedAt = performance.now();
    for (const x of c.nodes) fs.rmSync(path.join(x.dir, 'filler'));
    await until('writes to resume', async () => {
      try {
        await send();
        return true;
      } catch (err) {
        if ((err as { code?: string }).code !== 'DISK_FULL') throw err;
        return false;
      }
    });
    t.comment(`writes resumed ${Math.round(performance.now() - freedAt)} ms after the space came back (diskCheckIntervalMs 100)`);
    for (let i = 0; i < 50; i++) await send();

    // 4. Nothing acknowledged is lost, on any replica; nobody exited.
    const commit = (await status((await c.waitForMaster()).addr))!.commitIndex;
    for (const x of c.nodes) {
      await until(`${x.id} to apply ${commit}`, async () => ((await status(x.clientAddr))?.appliedIndex ?? 0) >= commit);
      const held = new Set((await readAll(x.clientAddr, 'full', QUEUES)).flat().map(bodyText));
      t.same([...acked].filter((b) => !held.has(b)).length, 0, `${x.id} holds every acknowledged message (${acked.size})`);
    }
    t.same(exits, [], 'no process exited');
  });
}
