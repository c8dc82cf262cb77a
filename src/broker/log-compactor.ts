// Frees the disk behind a cut: once a state checkpoint holds the cut (so a restart never replays
// entries below it), the commitlog drops the segments wholly below it and the mark snapshots
// below it go. The mark AT the cut stays: it is what a follower behind the log's start is sent.
import type { CommitLog } from '../commitlog/index.ts';
import type { Logger } from './logger.ts';
import type { MarkStore } from './retention-marks.ts';

export class LogCompactor {
  private running = false;

  constructor(
    private readonly log: Pick<CommitLog, 'firstIndex' | 'deleteBefore'>,
    private readonly marks: MarkStore,
    /** The cut (first retained index) the last durable state checkpoint holds. */
    private readonly durableCut: () => number,
    private readonly logger: Logger,
  ) {}

  /** Called after each state checkpoint; deletes in the background, one run at a time. */
  maybeCompact(): void {
    const cut = this.durableCut();
    if (this.running || cut <= 1) return;
    const marksBelow = this.marks.indexes().some((i) => i < cut - 1);
    if (cut <= this.log.firstIndex() && !marksBelow) return;
    this.running = true;
    void (async () => {
      try {
        if (cut > this.log.firstIndex()) await this.log.deleteBefore(cut);
        this.marks.deleteBelow(cut - 1);
      } catch (err) {
        // Retried after the next checkpoint; a failing disk shows in the write path too.
        this.logger.warn({ err: (err as Error).message, cut }, 'retention: could not delete below the cut');
      } finally {
        this.running = false;
      }
    })();
  }
}
