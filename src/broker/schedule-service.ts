// The master's delayed delivery: every SCHEDULE_CHECK_INTERVAL_MS it looks at each delay level
// and proposes what schedule-decision.ts decides (a due run delivered to its real queue, or a
// skip past deleted messages). Only a ready master proposes; at most one proposal per level is in
// flight, a level whose head is not yet due is not read again before it is, and a level whose
// proposal applied is looked at again at once (due messages bound for many queues make many
// short runs: one per timer tick would deliver only 10 of them a second).
import { encodeCommand } from './commands.ts';
import type { Logger } from './logger.ts';
import { lookAtLevel } from './schedule-decision.ts';
import type { BrokerStateMachine } from './state-machine.ts';

/** How often the master looks for due delayed messages (RocketMQ's timer ticks every 100 ms). */
export const SCHEDULE_CHECK_INTERVAL_MS = 100;
/** A level whose delivery apply refused without moving its offset (a full queue, a topic that
 *  cannot be created) is tried again after a wait doubling up to this: a refusal that lasts
 *  adds one log entry per level every 10 s, not ten a second. */
export const SCHEDULE_REFUSED_BACKOFF_MS_MAX = 10_000;

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
  /** Per level: the schedule offset whose delivery apply refused, and when to try again. */
  private readonly refused = new Map<number, { offset: number; retryAtMs: number; backoffMs: number }>();

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
    if (!this.opts.leaderReady()) return;
    const nowMs = this.opts.nowMs?.() ?? Date.now();
    for (let level = 1; level <= this.opts.delayLevelsMs.length; level++) this.checkLevel(level, nowMs);
  }

  private checkLevel(level: number, nowMs: number): void {
    const { opts } = this;
    const sm = opts.stateMachine;
    if (this.proposing.has(level)) return;
    const wait = this.notBefore.get(level);
    if (wait !== undefined && wait.offset === sm.scheduleOffset(level) && nowMs < wait.dueAtMs) return;
    const refusal = this.refused.get(level);
    if (refusal !== undefined && refusal.offset === sm.scheduleOffset(level) && nowMs < refusal.retryAtMs) return;
    let look;
    try {
      look = lookAtLevel(sm, level, opts.delayLevelsMs[level - 1]!, nowMs, opts.autoCreateQueues);
    } catch (err) {
      opts.logger.warn({ level, err: (err as Error).message }, 'schedule: delay level not read');
      return;
    }
    if (look.dueAtMs !== undefined) this.notBefore.set(level, { offset: sm.scheduleOffset(level), dueAtMs: look.dueAtMs });
    else this.notBefore.delete(level);
    const proposal = look.proposal;
    if (proposal === null) return;
    if (proposal.kind === 'scheduleSkip') opts.logger.warn({ level, from: proposal.from, to: proposal.to }, 'schedule: delayed messages skipped (deleted by retention before they were due, or their queue is gone)');
    this.proposing.add(level);
    const offsetBefore = sm.scheduleOffset(level);
    let applied = false;
    opts
      .propose(encodeCommand(proposal))
      .then(
        (result) => {
          const r = result as { type: string; message?: string };
          applied = r.type !== 'error';
          if (applied) this.refused.delete(level);
          else {
            opts.logger.debug({ level, err: r.message }, 'schedule: delivery refused on apply (delivered already, or the queue is full)');
            if (sm.scheduleOffset(level) === offsetBefore) this.backOff(level, offsetBefore, opts.nowMs?.() ?? Date.now());
          }
        },
        (err: Error) => opts.logger.debug({ level, err: err.message }, 'schedule: delivery not committed (the next master delivers it)'),
      )
      .finally(() => {
        this.proposing.delete(level);
        // More may be due at once; a refusal or a failure waits for the next tick.
        if (applied && this.timer !== null && opts.leaderReady()) this.checkLevel(level, opts.nowMs?.() ?? Date.now());
      });
  }

  private backOff(level: number, offset: number, nowMs: number): void {
    const prev = this.refused.get(level);
    const backoffMs = Math.min(SCHEDULE_REFUSED_BACKOFF_MS_MAX, prev !== undefined && prev.offset === offset ? prev.backoffMs * 2 : SCHEDULE_CHECK_INTERVAL_MS * 2);
    this.refused.set(level, { offset, retryAtMs: nowMs + backoffMs, backoffMs });
    this.opts.logger.warn({ level, offset, retryInMs: backoffMs }, 'schedule: delivery refused on apply; tried again later');
  }
}
