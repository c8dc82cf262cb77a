// Installing a snapshot the master sent (Ready.snapshot): the state machine becomes the mark's
// state, the mark's file is kept (this replica can send it on as a master), the state is
// checkpointed, and only then is the log emptied to restart after the mark. In that order a
// crash at any point leaves a store that opens: before the checkpoint, the old state and log;
// after it, a state restored from a mark (retainedFrom = appliedIndex + 1) over a log that does
// not hold the mark, which finishInterruptedInstall completes at the next open.
import type { CommitLog } from '../commitlog/index.ts';
import { assert } from '../util/index.ts';
import type { MarkStore } from './retention-marks.ts';
import type { SnapshotReceiver } from './snapshot-transfer.ts';
import { decodeSnapshot, type BrokerStateMachine } from './state-machine.ts';

export interface SnapshotInstallParts {
  readonly receiver: Pick<SnapshotReceiver, 'take'>;
  readonly stateMachine: BrokerStateMachine;
  readonly marks: Pick<MarkStore, 'put'>;
}

/** What finishInterruptedInstall needs of the log. */
type InstallLog = Pick<CommitLog, 'restartAt' | 'lastIndex' | 'firstIndex' | 'termAt'>;

/** `restartLog`: the replica's writer's restartAt (it must learn where the log now ends). */
export async function installSnapshot(parts: SnapshotInstallParts, index: number, term: number, restartLog: (first: number, prevTerm: number) => Promise<void>): Promise<void> {
  const received = parts.receiver.take(index, term);
  if (received === undefined) throw new Error(`the core installs the snapshot of index ${index} (term ${term}) but its bytes never came in full`);
  const snapshot = decodeSnapshot(received.bytes);
  assert(snapshot.appliedIndex === index && snapshot.appliedTerm === term, `snapshot bytes of index ${snapshot.appliedIndex} term ${snapshot.appliedTerm}, expected ${index} term ${term}`);
  parts.stateMachine.restore(snapshot);
  parts.marks.put({ index, term, bytes: received.bytes });
  await parts.stateMachine.checkpoint();
  await restartLog(index + 1, term);
}

/** At open: a state restored from a mark whose log does not hold the mark yet (a crash between
 *  the checkpoint and the log's restart) gets its log restarted after the mark. Returns whether
 *  it did. */
export async function finishInterruptedInstall(stateMachine: BrokerStateMachine, log: InstallLog): Promise<boolean> {
  const applied = stateMachine.appliedIndex;
  if (applied === 0 || stateMachine.retainedFrom !== applied + 1) return false;
  const holdsMark = applied >= log.firstIndex() - 1 && applied <= log.lastIndex() && log.termAt(applied) === stateMachine.appliedTerm;
  if (holdsMark) return false;
  await log.restartAt(applied + 1, stateMachine.appliedTerm);
  return true;
}
