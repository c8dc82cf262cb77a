// The master's retention loop: every RETENTION_CHECK_INTERVAL_MS it asks the policy
// (retention-policy.ts) whether to propose a retain entry, and proposes it. Only a ready master
// proposes; one retain at a time. The cut itself happens on apply, on every replica alike.
import { encodeCommand } from './commands.ts';
import type { Logger } from './logger.ts';
import { decideRetention, type RetentionSettings } from './retention-policy.ts';
import type { BrokerStateMachine } from './state-machine.ts';

/** How often the master looks at retention. RocketMQ's clean service runs every 10 s; a mark is
 *  cheap to decide, and a disk filling fast wants an answer sooner. */
export const RETENTION_CHECK_INTERVAL_MS = 1000;

export interface RetentionServiceOptions {
  readonly settings: RetentionSettings;
  readonly stateMachine: BrokerStateMachine;
  readonly bytesAfter: (index: number) => number;
  readonly diskUsedPercent: () => number;
  readonly leaderReady: () => boolean;
  readonly propose: (data: Uint8Array) => Promise<unknown>;
  readonly logger: Logger;
  readonly nowMs?: () => number;
  readonly intervalMs?: number;
}

export class RetentionService {
  private timer: NodeJS.Timeout | null = null;
  private proposing = false;

  constructor(private readonly opts: RetentionServiceOptions) {}

  start(): void {
    this.timer = setInterval(() => this.check(), this.opts.intervalMs ?? RETENTION_CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** One look (the timer calls it; tests too). */
  check(): void {
    const { opts } = this;
    if (this.proposing || !opts.leaderReady()) return;
    const sm = opts.stateMachine;
    const marks = sm.retentionMarks;
    const nowMs = opts.nowMs?.() ?? Date.now();
    const decision = decideRetention(opts.settings, {
      nowMs,
      hour: new Date(nowMs).getHours(),
      marks,
      bytesAfter: opts.bytesAfter,
      cutIndex: sm.retainedFrom - 1,
      diskUsedPercent: opts.diskUsedPercent(),
    });
    if (decision === null) return;
    let data: Uint8Array;
    try {
      data = encodeCommand(sm.prepareRetain(decision.cutAt, nowMs));
    } catch (err) {
      opts.logger.warn({ err: (err as Error).message }, 'retention: no retain entry proposed');
      return;
    }
    this.proposing = true;
    opts.propose(data).then(
      (result) => {
        if (decision.cutAt > 0) opts.logger.info({ cutAt: decision.cutAt, why: decision.why, result }, 'retention: the log is cut (messages up to this index are deleted on every replica)');
      },
      (err: Error) => {
        // Not the master any more, or a timeout: the next master (or the next look) decides again.
        opts.logger.debug({ err: err.message }, 'retention: the retain entry was not committed');
      },
    ).finally(() => {
      this.proposing = false;
    });
  }
}
