// What a command's apply handler is and may use (apply.ts lists the handlers).
import { assert } from '../../util/index.ts';
import type { BrokerCommand, CommandKind, SendBatchHead } from '../commands.ts';
import { decodeCommand, validateCommand } from '../commands.ts';
import type { ErrorCode } from '../../protocol/index.ts';
import type { KeyIndex } from './key-index.ts';
import type { SendBatchCache } from './send-batch-cache.ts';
import type { BrokerTables } from './tables.ts';
import type { AppliedEvent, ApplyEntry, ApplyResult } from './types.ts';

/** What a handler may use. Apply reads no clock and no local configuration: everything it
 *  decides comes from the entries and the tables. */
export interface ApplyContext {
  readonly tables: BrokerTables;
  /** This broker's msgId prefix (send results carry msgIds). */
  readonly msgIdPrefix: string;
  /** Apply leaves a send batch's bytes there for the pulls that come next. */
  readonly batches: SendBatchCache;
  /** Derived, not replicated: apply files the keys of each stored message (absent: off). */
  readonly keyIndex: KeyIndex | undefined;
}

export interface ApplyOutcome {
  readonly result: ApplyResult;
  /** Messages became readable (tells onApplied listeners). */
  readonly event?: AppliedEvent;
  /** The entry is a retention mark: the state machine keeps its snapshot (onMark). */
  readonly mark?: boolean;
}

export interface CommandHandler<C> {
  /** What apply needs of the entry's data. Throws on malformed data (asserted by the caller:
   *  every command was validated before it was proposed). */
  decode(data: Uint8Array): C;
  apply(ctx: ApplyContext, cmd: C, entry: ApplyEntry): ApplyOutcome;
}

/** A command as its handler takes it: a send batch as its head only (apply counts the messages
 *  and leaves them alone; a pull decodes them when it reads them). */
export type ApplyCommandOf<K extends CommandKind> = K extends 'sendBatch' ? SendBatchHead : Extract<BrokerCommand, { kind: K }>;

/** decode for a command apply takes whole: decoded and validated as when it was proposed. */
export function decodeValidated<K extends CommandKind>(kind: K): (data: Uint8Array) => Extract<BrokerCommand, { kind: K }> {
  return (data) => {
    const cmd = decodeCommand(data);
    validateCommand(cmd);
    assert(cmd.kind === kind, 'commandKindOf and decodeCommand agree');
    return cmd as Extract<BrokerCommand, { kind: K }>;
  };
}

/** An apply result refusing the command with `err`'s code and message (a BrokerError, or a plain
 *  object where apply alone refuses). */
export function refused(err: { readonly code: ErrorCode; readonly message: string }): ApplyOutcome {
  return { result: { type: 'error', code: err.code, message: err.message } };
}
