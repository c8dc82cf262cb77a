// The scheduleSkip command: retention deleted delayed messages before they were due (RocketMQ
// loses them the same way), so the master moves the level's schedule offset up to the queue's
// minOffset. Refused unless the offset is still `from`, as a delivery is.
import type { ScheduleSkipCommand } from '../../commands.ts';
import { BrokerError } from '../../errors.ts';
import type { ApplyOutcome, CommandHandler } from '../command-handler.ts';
import { decodeValidated, refused } from '../command-handler.ts';
import type { BrokerTables } from '../tables.ts';

const OK: ApplyOutcome = { result: { type: 'ok' } };

/** Why a move of `level`'s schedule offset from `from` cannot apply now, or null. */
export function scheduleMoveRefusal(tables: BrokerTables, level: number, from: number): BrokerError | null {
  if (tables.schedule.admits(level, from)) return null;
  return new BrokerError('BAD_REQUEST', `delay level ${level}: the schedule offset is ${tables.schedule.offsetOf(level)}, not ${from} (delivered already)`);
}

export const scheduleSkipHandler: CommandHandler<ScheduleSkipCommand> = {
  decode: decodeValidated('scheduleSkip'),
  apply({ tables }, cmd) {
    const err = scheduleMoveRefusal(tables, cmd.level, cmd.from);
    if (err !== null) return refused(err);
    tables.schedule.advance(cmd.level, cmd.to);
    return OK;
  },
};
