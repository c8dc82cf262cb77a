// The retain command: the log is cut at an earlier mark (every replica drops the same prefix and
// so reports the same minimum queue offsets), and the entry itself becomes a new mark. The cut
// is refused unless it names a mark: a mark is where every replica holds a snapshot of the state
// without the log before it (retention-marks.ts), which a replica behind the cut is sent.
import type { RetainCommand } from '../../commands.ts';
import { BrokerError } from '../../errors.ts';
import type { ApplyOutcome, CommandHandler } from '../command-handler.ts';
import { decodeValidated, refused } from '../command-handler.ts';
import { RETENTION_MARK_COUNT_MAX } from '../retention-table.ts';
import type { BrokerTables } from '../tables.ts';

const OK: ApplyOutcome = { result: { type: 'ok' }, mark: true };
const OK_NO_MARK: ApplyOutcome = { result: { type: 'ok' } };

function refusal(tables: BrokerTables, cutAt: number): BrokerError | null {
  if (cutAt !== 0 && !tables.retention.canCutAt(cutAt)) return new BrokerError('BAD_REQUEST', `retain: ${cutAt} is not a retention mark`);
  return null;
}

export const retainHandler: CommandHandler<RetainCommand> = {
  decode: decodeValidated('retain'),
  apply({ tables, keyIndex }, cmd, entry) {
    const err = refusal(tables, cmd.cutAt);
    if (err !== null) return refused(err);
    if (cmd.cutAt > 0) {
      tables.consumeQueues.trimBelowLogIndex(cmd.cutAt + 1);
      keyIndex?.dropBefore(cmd.cutAt + 1);
      tables.retention.cutAt(cmd.cutAt);
    }
    // A full mark list takes no new mark (the master proposes none then; an entry proposed
    // before it filled up still cuts).
    if (tables.retention.marks.length >= RETENTION_MARK_COUNT_MAX) return OK_NO_MARK;
    tables.retention.addMark({ index: entry.index, atMs: cmd.atMs });
    return OK;
  },
};

/** The retain command to propose, checked against the applied state. */
export function prepareRetain(tables: BrokerTables, cutAt: number, atMs: number): RetainCommand {
  const err = refusal(tables, cutAt);
  if (err !== null) throw err;
  return { kind: 'retain', cutAt, atMs };
}
