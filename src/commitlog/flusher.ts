// Flushing: rounds of fdatasync (group commit) that move `flushed` / `flushedPos` up to what was
// written when the round started, the checkpoint that records flushedPos, and the lazy syncs of
// index and checkpoint files. Rounds run on libuv's thread pool while the pump goes on writing;
// what is written during a round waits for the next one.
import { trace, tracing } from '../trace/index.ts';
import { assert } from '../util/index.ts';
import type { Checkpoint } from './checkpoint.ts';
import type { DirtyFiles } from './dirty-files.ts';
import { CommitLogError } from './errors.ts';
import type { StoreFiles } from './files.ts';
import type { DiskIo } from './io.ts';
import type { LogState } from './log-state.ts';
import type { StoreSettings } from './options.ts';
import type { Waiters } from './waiters.ts';

/** Index and checkpoint files are synced by a round at most this often (else at a roll, on close). */
const LAZY_SYNC_INTERVAL_MS = 1000;

export class Flusher {
  private running = false;
  /** A round was requested while one ran (ASYNC_FLUSH: run another if something is unflushed). */
  private again = false;
  private idleWaiters: (() => void)[] = [];

  /** `kickPump` makes sure what was accepted gets written (a flush wait needs it). */
  constructor(
    private readonly settings: StoreSettings,
    private readonly state: LogState,
    private readonly files: StoreFiles,
    private readonly dirty: DirtyFiles,
    private readonly checkpoint: Checkpoint,
    private readonly waiters: Pick<Waiters, 'waitFlush' | 'resolveAppends' | 'resolveFlushes'>,
    private readonly io: DiskIo,
    private readonly fail: (err: CommitLogError) => void,
    private readonly kickPump: () => void,
  ) {}

  /** A round runs. */
  busy(): boolean {
    return this.running;
  }

  /** Starts rounds until what is written is flushed (or, under ASYNC_FLUSH, nobody waits). */
  request(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    void this.loop();
  }

  /** Resolves once everything accepted up to `index` is written and fdatasync'd. */
  waitFlushed(index: number): Promise<void> {
    const { state } = this;
    if (state.failed !== null) return Promise.reject(state.failed);
    if (index <= state.flushed) return Promise.resolve();
    const p = this.waiters.waitFlush(index);
    this.kickPump();
    if (index <= state.written) this.request();
    return p;
  }

  flushAll(): Promise<void> {
    return this.waitFlushed(this.state.last);
  }

  /** Resolves once no round runs. */
  idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** fdatasyncs the index and checkpoint files written since their last sync. */
  async syncLazy(): Promise<void> {
    const { dirty } = this;
    const fds = [...dirty.lazyFds];
    dirty.lazyFds.clear();
    dirty.lazySyncedAtMs = performance.now();
    dirty.syncStarted();
    try {
      await Promise.all(fds.map((fd) => this.io.fdatasync(fd)));
    } catch (err) {
      const e = this.syncFailed(err);
      this.fail(e);
      throw e;
    } finally {
      dirty.syncEnded();
    }
  }

  /** Records flushedPos and the retention point in the checkpoint; made durable later (a lagging
   *  flushedPos is safe). */
  writeCheckpoint(): void {
    const { state } = this;
    this.checkpoint.write({ flushedPos: state.flushedPos, firstIndex: state.first, prevTerm: state.prevTerm });
    this.dirty.lazyFds.add(this.checkpoint.fd);
  }

  /** writeCheckpoint, durable when the promise resolves (before a truncation or retention acts). */
  async writeCheckpointNow(): Promise<void> {
    this.writeCheckpoint();
    await this.io.fsync(this.checkpoint.fd);
  }

  /** Makes what recovery changed durable: directories, the active segment (its new length), the
   *  index entries it rewrote, and a checkpoint of the recovered state. */
  async syncAfterRecovery(): Promise<void> {
    const { files, dirty, settings } = this;
    const cur = files.lastSegment();
    const syncs: Promise<void>[] = [this.io.fsyncDir(settings.dataDir), this.io.fsyncDir(settings.indexDir)];
    if (cur !== undefined) syncs.push(this.io.fdatasync(cur.fd));
    for (const fd of dirty.lazyFds) syncs.push(this.io.fdatasync(fd));
    const idx = files.indexFiles.get(files.indexFileStart(Math.max(1, this.state.last)));
    if (idx !== undefined) syncs.push(this.io.fdatasync(idx.fd));
    await Promise.all(syncs);
    dirty.lazyFds.clear();
    this.writeCheckpoint();
    dirty.lazyFds.clear();
    await this.io.fsync(this.checkpoint.fd);
  }

  /** Rounds until nothing written is unflushed (SYNC_FLUSH) or nobody asked again (ASYNC_FLUSH). */
  private async loop(): Promise<void> {
    const { state, settings } = this;
    this.running = true;
    this.dirty.syncStarted();
    try {
      for (;;) {
        this.again = false;
        if (state.failed !== null) break;
        if (state.written > state.flushed || this.dirty.dirs.size > 0) {
          if (!(await this.round())) break;
        }
        if (settings.mode === 'SYNC_FLUSH') this.waiters.resolveAppends(state.flushed);
        this.waiters.resolveFlushes(state.flushed);
        const more = settings.mode === 'SYNC_FLUSH' ? state.written > state.flushed : this.again && state.written > state.flushed;
        if (!more) break;
      }
    } finally {
      this.running = false;
      this.dirty.syncEnded();
      const idle = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of idle) f();
    }
  }

  /** One round: fdatasync of the segments written since the last round and of new directory
   *  entries (and, when due, the lazy files). Returns false if it failed (the store failed). */
  private async round(): Promise<boolean> {
    const { state, dirty } = this;
    const targetIndex = state.written;
    const targetPos = state.writtenPos;
    const fds = [...dirty.segmentFds];
    const dirs = [...dirty.dirs];
    dirty.segmentFds.clear();
    const now = performance.now();
    if (dirty.lazyFds.size > 0 && now - dirty.lazySyncedAtMs >= LAZY_SYNC_INTERVAL_MS) {
      fds.push(...dirty.lazyFds);
      dirty.lazyFds.clear();
      dirty.lazySyncedAtMs = now;
    }
    dirty.dirs.clear();
    if (tracing) trace('log.flushStart', targetIndex);
    try {
      await Promise.all([...fds.map((fd) => this.io.fdatasync(fd)), ...dirs.map((d) => this.io.fsyncDir(d))]);
    } catch (err) {
      this.fail(this.syncFailed(err));
      return false;
    }
    state.flushRounds++;
    if (tracing) trace('log.flushEnd', targetIndex);
    assert(targetIndex >= state.flushed || state.truncating, 'flushed index only moves forward');
    state.flushed = targetIndex;
    state.flushedPos = targetPos;
    this.writeCheckpoint();
    return true;
  }

  private syncFailed(err: unknown): CommitLogError {
    return new CommitLogError('IO_ERROR', `fdatasync failed in ${this.settings.dir}; the store refuses writes now`, { cause: err });
  }
}
