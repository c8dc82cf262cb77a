// Apply: the table of command kinds and their handlers. A command kind (commands.ts) without a
// handler here does not compile. Each handler says how apply reads the entry (`decode`) and what
// it does to the tables (`apply`); its module also holds the command's checks before proposing.
import { assert } from '../../util/index.ts';
import type { CommandKind } from '../commands.ts';
import { commandKindOf } from '../commands.ts';
import type { ApplyCommandOf, ApplyContext, ApplyOutcome, CommandHandler } from './command-handler.ts';
import { decodeValidated } from './command-handler.ts';
import { commitOffsetsHandler } from './commands/commit-offsets.ts';
import { createTopicHandler } from './commands/create-topic.ts';
import { deleteTopicHandler } from './commands/delete-topic.ts';
import { lockQueuesHandler, unlockAllQueuesHandler, unlockQueuesHandler } from './commands/queue-locks.ts';
import { retainHandler } from './commands/retain.ts';
import { scheduleSkipHandler } from './commands/schedule-skip.ts';
import { sendBatchHandler } from './commands/send-batch.ts';
import type { ApplyEntry } from './types.ts';

const NOOP: ApplyOutcome = { result: { type: 'noop' } };

/** Every command kind and its handler. */
export const COMMAND_HANDLERS: { readonly [K in CommandKind]: CommandHandler<ApplyCommandOf<K>> } = {
  noop: { decode: decodeValidated('noop'), apply: () => NOOP },
  sendBatch: sendBatchHandler,
  createTopic: createTopicHandler,
  commitOffsets: commitOffsetsHandler,
  retain: retainHandler,
  deleteTopic: deleteTopicHandler,
  lockQueues: lockQueuesHandler,
  unlockQueues: unlockQueuesHandler,
  unlockAllQueues: unlockAllQueuesHandler,
  scheduleSkip: scheduleSkipHandler,
};

/** Applies a broker command entry (type 0) through its handler. */
export function applyCommand(ctx: ApplyContext, entry: ApplyEntry): ApplyOutcome {
  let handler: CommandHandler<unknown>;
  let cmd: unknown;
  try {
    handler = COMMAND_HANDLERS[commandKindOf(entry.data)] as CommandHandler<unknown>;
    cmd = handler.decode(entry.data);
  } catch (err) {
    // Every command was validated before it was proposed.
    assert(false, `state machine: entry ${entry.index} is not a valid command: ${(err as Error).message}`);
  }
  return handler.apply(ctx, cmd, entry);
}
