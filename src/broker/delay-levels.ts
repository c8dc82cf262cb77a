// Delay levels (RocketMQ's messageDelayLevel): "1s 5s 10s ... 2h", level n waits the n-th
// duration. Parsed once from the broker key; only the master reads them (when it decides which
// delayed messages are due and where a retry waits), never apply.
import { MESSAGE_DELAY_LEVEL_DEFAULT, PROPERTY_DELAY_TIME_LEVEL } from '../protocol/index.ts';
import { BrokerError } from './errors.ts';

/** Most delay levels (SCHEDULE_TOPIC has one queue per level). */
export const DELAY_LEVEL_COUNT_MAX = 64;
/** Longest delay of one level: 30 days. */
export const DELAY_MS_MAX = 30 * 86_400_000;

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** The levels' delays in ms, or an error message naming what is wrong. Units s m h d (RocketMQ's)
 *  and ms (raftmq's, for tests and demos). */
export function parseMessageDelayLevel(text: string): number[] | string {
  const parts = text.trim().split(/\s+/).filter((p) => p.length > 0);
  if (parts.length === 0) return 'messageDelayLevel is empty; expected durations such as "1s 5s 10s 30s 1m"';
  if (parts.length > DELAY_LEVEL_COUNT_MAX) return `messageDelayLevel has ${parts.length} levels, more than ${DELAY_LEVEL_COUNT_MAX}`;
  const out: number[] = [];
  for (const p of parts) {
    const m = /^(\d{1,9})(ms|s|m|h|d)$/.exec(p);
    const ms = m === null ? NaN : Number(m[1]) * UNIT_MS[m[2]!]!;
    if (!(ms > 0) || ms > DELAY_MS_MAX) return `messageDelayLevel "${p.slice(0, 20)}" is not a duration above 0 and at most 30d (a number and one of ms s m h d, e.g. 10s)`;
    out.push(ms);
  }
  return out;
}

/** The default levels (MESSAGE_DELAY_LEVEL_DEFAULT). */
export const DEFAULT_DELAY_LEVELS_MS: readonly number[] = parseMessageDelayLevel(MESSAGE_DELAY_LEVEL_DEFAULT) as number[];

/**
 * The delay level a sent message asks for (property DELAY): 0 for none (absent or 0), the last
 * level for one above it (as RocketMQ). BAD_REQUEST for a value that is not a whole number.
 */
export function requestedDelayLevel(properties: Readonly<Record<string, string>> | undefined, levelCount: number): number {
  const text = properties?.[PROPERTY_DELAY_TIME_LEVEL];
  if (text === undefined) return 0;
  if (!/^\d{1,9}$/.test(text)) throw new BrokerError('BAD_REQUEST', `property ${PROPERTY_DELAY_TIME_LEVEL} must be a delay level 0..${levelCount}, got ${JSON.stringify(text.slice(0, 20))}`);
  return Math.min(Number(text), levelCount);
}

/** The levels as messageDelayLevel writes them, each in its largest whole unit (1000 -> 1s). */
export function formatMessageDelayLevel(levelsMs: readonly number[]): string {
  const units: readonly [string, number][] = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]];
  return levelsMs.map((ms) => {
    const unit = units.find(([, n]) => ms % n === 0);
    return unit === undefined ? `${ms}ms` : `${ms / unit[1]}${unit[0]}`;
  }).join(' ');
}
