// The master's delayed delivery: every SCHEDULE_CHECK_INTERVAL_MS it looks at each delay level
// and proposes what schedule-decision.ts decides (a due run delivered to its real queue, or a
// skip past deleted messages). Only a ready master proposes; at most one proposal per level is in
// flight, and a level whose head is not yet due is not read again before it is.
import { encodeCommand } from './commands.ts';
import type { Logger } from './logger.ts';
import { lookAtLevel } from './schedule-decision.ts';
import type { BrokerStateMachine } from './state-machine.ts';

/** How often the master looks for due delayed messages (RocketMQ's timer ticks every 100 ms). */
export const SCHEDULE_CHECK_INTERVAL_MS = 100;

export interface ScheduleServiceOptions {
  readonly stateMachine: BrokerStateMachine;
  /** messageDelayLevel, ms per level. */
  readonly delayLevelsMs: readonly number[];
  /** Queues of a real topic created by a delivery (0: autoCreateTopicEnable off). */
  readonly autoCreateQueues: number;
  readonly leaderReady: () => boolean;
  readonly propose: (data: Uint8Array) => Promise<unknown>;
  readonly logger: Logger;
  readonly nowMs?: () => number;
  readonly intervalMs?: number;
}

export class ScheduleService {
  private timer: NodeJS.Timeout | null = null;
  /** Levels with a proposal in flight. */
  private readonly proposing = new Set<number>();
  /** Per level: the schedule offset whose head message is not due before dueAtMs. */
  private readonly notBefore = new Map<number, { offset: number; dueAtMs: number }>();

  constructor(private readonly opts: ScheduleServiceOptions) {}

  start(): void {
    this.timer = setInterval(() => this.check(), this.opts.intervalMs ?? SCHEDULE_CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** One look at every level (the timer calls it; tests too). */
  check(): void {
    const { opts } = this;
    if (!opts.leaderReady()) return;
    const sm = opts.stateMachine;
    const nowMs = opts.nowMs?.() ?? Date.now();
    const levels = opts.delayLevelsMs;
    for (let level = 1; level <= levels.length; level++) {
      if (this.proposing.has(level)) continue;
      const wait = this.notBefore.get(level);
      if (wait !== undefined && wait.offset === sm.scheduleOffset(level) && nowMs < wait.dueAtMs) continue;
      let look;
      try {
        look = lookAtLevel(sm, level, levels[level - 1]!, nowMs, opts.autoCreateQueues);
      } catch (err) {
        opts.logger.warn({ level, err: (err as Error).message }, 'schedule: delay level not read');
        continue;
      }
      if (look.dueAtMs !== undefined) this.notBefore.set(level, { offset: sm.scheduleOffset(level), dueAtMs: look.dueAtMs });
      else this.notBefore.delete(level);
      const proposal = look.proposal;
      if (proposal === null) continue;
      if (proposal.kind === 'scheduleSkip') opts.logger.warn({ level, from: proposal.from, to: proposal.to }, 'schedule: delayed messages skipped (deleted by retention before they were due, or their queue is gone)');
      this.proposing.add(level);
      opts
        .propose(encodeCommand(proposal))
        .then(
          (result) => {
            const r = result as { type: string; message?: string };
            if (r.type === 'error') opts.logger.debug({ level, err: r.message }, 'schedule: delivery refused on apply (delivered already, or the queue is full)');
          },
          (err: Error) => opts.logger.debug({ level, err: err.message }, 'schedule: delivery not committed (the next master delivers it)'),
        )
        .finally(() => this.proposing.delete(level));
    }
  }
}
