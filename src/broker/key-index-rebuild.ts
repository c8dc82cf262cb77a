// The key index's refill after a start (node.ts starts it once the replica runs).
import type { Logger } from './logger.ts';
import type { BrokerStateMachine, KeyIndexRebuilder } from './state-machine.ts';

/** Longest the key index rebuild holds the event loop at a time. */
const KEY_INDEX_REBUILD_SLICE_MS = 10;

/** The key index is derived state: refilled from the retained log up to the checkpoint (what is
 *  replayed after it fills it as it is applied). Replaying beats keeping it in the checkpoint:
 *  nothing to write on the checkpoint path, nothing to get out of step with the log after a
 *  repair. It runs in slices after the start, so a long log never delays the replica's return to
 *  its group (key lookups answer OVERLOADED meanwhile); its cost is bounded by the index's size
 *  and KEY_INDEX_REBUILD_BYTES_MAX. */
export function rebuildKeyIndexInBackground(sm: BrokerStateMachine, rebuild: KeyIndexRebuilder | undefined, logger: Logger): () => void {
  if (rebuild === undefined) return () => undefined;
  const t0 = performance.now();
  let stopped = false;
  const slice = (): void => {
    // A snapshot installed meanwhile replaced the log and dropped the refill.
    if (stopped || !sm.keyIndexRebuilding) return;
    const until = performance.now() + KEY_INDEX_REBUILD_SLICE_MS;
    while (!rebuild.done && performance.now() < until) rebuild.step();
    if (!rebuild.done) {
      setImmediate(slice);
      return;
    }
    const done = sm.finishKeyIndexRebuild();
    logger.info({ ...done, toIndex: rebuild.lastIndex, ms: Math.round(performance.now() - t0) }, 'key index rebuilt from the log');
  };
  setImmediate(slice);
  return () => {
    stopped = true;
  };
}
