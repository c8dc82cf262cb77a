// When the replica driver takes a state checkpoint (checkpointIntervalMs), and the one rule it
// keeps: a checkpoint never records an applied index above the durable end of the log that no
// write in flight will replace (see replica.ts). Under SYNC_FLUSH with everything applied
// already durable, the checkpoint is written beside the loop; otherwise the loop waits for it.
// A checkpoint that finds the disk full is not fatal: the checkpoint store writes its batch again
// with the next one, which is tried at the next interval.
import type { CommitLog } from '../commitlog/index.ts';
import { isNoSpaceError } from '../util/index.ts';
import type { ReplicaLogger, ReplicatedStateMachine } from './replica-options.ts';

export interface CheckpointSchedulerParts {
  readonly log: Pick<CommitLog, 'appendsDurable' | 'flush'>;
  readonly stateMachine: ReplicatedStateMachine;
  readonly intervalMs: number;
  readonly logger: ReplicaLogger;
  /** See Replica.stableLastIndex. */
  readonly stableLastIndex: () => number;
  /** Settles when every write started so far is durable. */
  readonly durableTail: () => Promise<unknown>;
  /** Whether the log's writes wait for disk space; raceStall resolves false if they start to. */
  readonly appender: { readonly stalled: boolean; raceStall(durable: Promise<unknown>): Promise<boolean> };
  readonly onCheckpointed?: () => void;
  /** A checkpoint failed for another reason than a full disk: the replica cannot go on. */
  readonly fail: (err: Error) => void;
  /** Whether the replica is stopping or failed (a late failure is then not reported). */
  readonly done: () => boolean;
}

export class CheckpointScheduler {
  private running = false;
  private lastMs = 0;
  /** When a due SYNC_FLUSH checkpoint was first put off because the durable log was behind. */
  private deferredSinceMs = -1;
  /** A checkpoint found the disk full and none has gone through since (logged once). */
  private noSpaceSince = -1;

  constructor(private readonly parts: CheckpointSchedulerParts) {}

  /** Starts a checkpoint when one is due. Returns a promise only when the loop must wait for it. */
  maybeCheckpoint(): Promise<void> | undefined {
    const p = this.parts;
    const now = Date.now();
    if (this.running || now - this.lastMs < p.intervalMs) return undefined;
    // While the disk is full nothing more becomes durable here, and a checkpoint would only find
    // the disk full too: none until the appends go through again.
    if (p.appender.stalled) return undefined;
    const { log, stateMachine } = p;
    if (log.appendsDurable) {
      if (p.stableLastIndex() >= stateMachine.appliedIndex) {
        // Everything applied is fdatasync'd here: the checkpoint (its batch is taken now, in the
        // call) is written beside the loop, which need not wait for a synced LevelDB batch.
        this.start(now);
        stateMachine.checkpoint().then(
          () => this.succeeded(),
          (err: Error) => this.failed(err),
        );
        return undefined;
      }
      // Applied ahead of the local disk (applyUnpersisted): try again next turn, and after a
      // few intervals of that, wait for the writes in flight (below) so checkpoints never stop.
      if (this.deferredSinceMs < 0) this.deferredSinceMs = now;
      if (now - this.deferredSinceMs < 3 * p.intervalMs) return undefined;
    }
    this.start(now);
    return (async () => {
      try {
        // The loop waits, so nothing more is applied: once every write started so far is
        // durable (or, under ASYNC_FLUSH, written and then flushed), the log holds all of it.
        // Not if the disk turns out full meanwhile: the loop must not stop until there is space.
        if (p.stableLastIndex() < stateMachine.appliedIndex && !(await p.appender.raceStall(p.durableTail()))) {
          this.running = false;
          return;
        }
        await log.flush();
        await stateMachine.checkpoint();
        this.succeeded();
      } catch (err) {
        this.failed(err as Error);
      }
    })();
  }

  private start(now: number): void {
    this.running = true;
    this.lastMs = now;
    this.deferredSinceMs = -1;
  }

  private succeeded(): void {
    this.running = false;
    if (this.noSpaceSince >= 0) {
      this.parts.logger.info({ appliedIndex: this.parts.stateMachine.appliedIndex, afterMs: Date.now() - this.noSpaceSince }, 'state checkpoints go through again');
      this.noSpaceSince = -1;
    }
    this.parts.onCheckpointed?.();
  }

  private failed(err: Error): void {
    this.running = false;
    if (this.parts.done()) return;
    if (!isNoSpaceError(err)) {
      this.parts.fail(err);
      return;
    }
    if (this.noSpaceSince < 0) {
      this.noSpaceSince = Date.now();
      this.parts.logger.warn(
        { err: err.message, appliedIndex: this.parts.stateMachine.appliedIndex },
        'a state checkpoint found the disk full: it is tried again every checkpointIntervalMs (a restart meanwhile replays the log from the last good one)',
      );
    }
  }
}
