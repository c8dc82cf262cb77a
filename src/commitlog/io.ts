// The few file operations the commitlog makes, in one place so tests can inject a full disk or a
// failing fdatasync (DiskFaults). Writes are positional: synchronous (page cache) with writevAt,
// or on libuv's thread pool with writevAtAsync (the pump uses it for a single huge batch, so the
// event loop is not blocked), or through a DirectWriter with writeDirectAt (O_DIRECT | O_DSYNC,
// on the thread pool); fdatasync and fsync run on the thread pool and never block the event loop.
import fs from 'node:fs';
import { promisify } from 'node:util';
import { DIRECT_ALIGN, DirectWriter } from './direct-writer.ts';
import type { CommitLogObserver, DiskFaults } from './types.ts';

const fdatasyncCb = promisify(fs.fdatasync);
const writevCb = promisify(fs.writev);
const writeCb = promisify(fs.write);
const fsyncCb = promisify(fs.fsync);

export class DiskIo {
  fdatasyncCalls = 0;
  directWrites = 0;
  writeCalls = 0;
  bytesWritten = 0;

  constructor(
    private readonly faults: DiskFaults | undefined,
    private readonly observer: CommitLogObserver | undefined,
  ) {}

  /** DiskFaults.powerCutNextWrite: the write at `position` never happens; the block it would
   *  have begun with is recorded for the test to tear. */
  private powerCut(position: number): void {
    const f = this.faults;
    if (!f?.powerCutNextWrite) return;
    f.powerCutNextWrite = false;
    const start = position - (position % DIRECT_ALIGN);
    f.powerCutBlock = { start, end: start + DIRECT_ALIGN };
    throw errno('EIO', 'i/o error, write (power cut)');
  }

  /** Writes all of `bufs` at `position`, looping on short writes. With a fault budget, a write that
   *  does not fit is written partly (a torn write) and then fails with ENOSPC. */
  writevAt(fd: number, bufs: readonly Buffer[], position: number): number {
    this.powerCut(position);
    const { list, left, fail } = this.takeBudget(bufs);
    const done = this.writeAll(fd, list, left, position);
    if (fail) throw errno('ENOSPC', 'no space left on device, write');
    return done;
  }

  /** writevAt with its (first) write on libuv's thread pool: the same budget and torn-write rules;
   *  the rest of a short write (rare) is written synchronously. The buffers must not change until
   *  the promise settles. */
  async writevAtAsync(fd: number, bufs: readonly Buffer[], position: number): Promise<number> {
    this.powerCut(position);
    const { list, left, fail } = this.takeBudget(bufs);
    let done = 0;
    if (left > 0) {
      done = list.length === 1 ? (await writeCb(fd, list[0], 0, list[0].length, position)).bytesWritten : (await writevCb(fd, list, position)).bytesWritten;
      this.count(done);
      if (done < left) done += this.writeAll(fd, skip(list, done), left - done, position + done);
    }
    if (fail) throw errno('ENOSPC', 'no space left on device, write');
    return done;
  }

  /** writevAt through a DirectWriter (O_DIRECT, on the thread pool): the same budget and
   *  torn-write rules. Returns the bytes of `bufs` written and the aligned end of the write. */
  async writeDirectAt(writer: DirectWriter, bufs: readonly Buffer[], position: number): Promise<{ bytes: number; alignedEnd: number }> {
    if (this.faults?.refuseDirectWrites) throw errno('EINVAL', 'invalid argument, write'); // before the budget: nothing written
    this.powerCut(position);
    const { list, left, fail } = this.takeBudget(bufs);
    let result = { bytes: 0, alignedEnd: position };
    if (left > 0) {
      if (this.faults?.failDatasync) {
        // O_DSYNC: a direct write is its own fdatasync, so the injected fdatasync failure is its.
        this.faults.failDatasync = false;
        throw errno('EIO', 'i/o error, write');
      }
      this.directWrites++; // counted when issued: writeNow's test sees it start in the call
      const t0 = this.observer === undefined ? 0 : performance.now();
      result = await writer.writeAt(list, position);
      this.observer?.synced('directWrite', (performance.now() - t0) / 1000);
      this.count(result.bytes);
    }
    if (fail) throw errno('ENOSPC', 'no space left on device, write');
    return result;
  }

  /** Opens `file` for direct writes (null: the filesystem refuses O_DIRECT). */
  openDirect(file: string, readFd: number, staging: Buffer): DirectWriter | null {
    if (this.faults?.refuseDirectIo) return null;
    return DirectWriter.open(file, readFd, staging);
  }

  /** Writes the `left` bytes of `list` at `position`, synchronously, looping on short writes. */
  private writeAll(fd: number, list: Buffer[], left: number, position: number): number {
    let done = 0;
    while (left > 0) {
      const n = list.length === 1 ? fs.writeSync(fd, list[0], 0, list[0].length, position + done) : fs.writevSync(fd, list, position + done);
      this.count(n);
      done += n;
      left -= n;
      if (left > 0) list = skip(list, n); // a short write: rare
    }
    return done;
  }

  /** The part of `bufs` the fault budget lets through (all of it without faults), taken from the
   *  budget when the write is issued (writes are issued in file order). */
  private takeBudget(bufs: readonly Buffer[]): { list: Buffer[]; left: number; fail: boolean } {
    let list: Buffer[] = bufs as Buffer[];
    let fail = false;
    if (this.faults !== undefined) {
      let total = 0;
      for (const b of bufs) total += b.length;
      if (this.faults.bytesLeft < total) {
        list = clip(list, Math.max(0, this.faults.bytesLeft));
        fail = true;
      }
    }
    let left = 0;
    for (const b of list) left += b.length;
    if (this.faults !== undefined) this.faults.bytesLeft -= left;
    return { list, left, fail };
  }

  private count(n: number): void {
    this.writeCalls++;
    this.bytesWritten += n;
  }

  async fdatasync(fd: number): Promise<void> {
    this.fdatasyncCalls++;
    if (this.faults?.failDatasync) {
      this.faults.failDatasync = false;
      throw errno('EIO', 'i/o error, fdatasync');
    }
    const t0 = this.observer === undefined ? 0 : performance.now();
    const delayMs = this.faults?.datasyncDelayMs ?? 0;
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    await fdatasyncCb(fd);
    this.observer?.synced('fdatasync', (performance.now() - t0) / 1000);
  }

  async fsync(fd: number): Promise<void> {
    await fsyncCb(fd);
  }

  /** Makes file creations, renames and unlinks in `dir` durable. */
  async fsyncDir(dir: string): Promise<void> {
    const h = await fs.promises.open(dir, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  }
}

function clip(bufs: Buffer[], bytes: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of bufs) {
    if (bytes <= 0) break;
    out.push(b.length <= bytes ? b : b.subarray(0, bytes));
    bytes -= b.length;
  }
  return out;
}

function skip(bufs: Buffer[], n: number): Buffer[] {
  let i = 0;
  while (i < bufs.length && n >= bufs[i].length) n -= bufs[i++].length;
  const rest = bufs.slice(i);
  if (n > 0) rest[0] = rest[0].subarray(n);
  return rest.filter((b) => b.length > 0);
}

function errno(code: string, msg: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`${code}: ${msg}`);
  e.code = code;
  return e;
}
