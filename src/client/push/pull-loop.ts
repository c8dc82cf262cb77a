// One allocated queue's pull loop (RocketMQ's PullMessageService for one ProcessQueue): long
// polls for the next batch while the queue has room (flow control), re-checks the tags the
// broker filtered, and follows the broker's suggestion of the replica to pull from next (back to
// the master after an error). While no master answers, the other replicas serve the pulls.
import { PULL_WAIT_MS_MAX, PROPERTY_ORIGIN_MESSAGE_ID, PROPERTY_RECONSUME_TIME, PROPERTY_RETRY_TOPIC, RETRY_GROUP_TOPIC_PREFIX, type StoredMessage } from '../../protocol/index.ts';
import { backoffMs, delay } from '../../net/index.ts';
import type { MessageQueue } from '../publish-route.ts';
import type { ClusterClient } from '../cluster.ts';
import type { PullResponse } from '../types.ts';
import type { Brokers } from './brokers.ts';
import type { ProcessQueue, QueueEntry } from './process-queue.ts';
import type { ConsumedMessage } from './types.ts';

/** Body bytes one pull may bring. */
export const PULL_BYTES_MAX = 4 * 1024 * 1024;
/** A full queue looks again after this at the latest (a consumed message wakes it sooner). */
const FLOW_CONTROL_RECHECK_MS = 1000;
/** Tries of one pull over the replicas. */
const PULL_TRIES = 2;
/** Resolves to 'moved' once the client learns of a master other than `at` (`at` null: no master
 *  was known when the pull left, so it went to whichever replica answered), or never; `stop()`
 *  unsubscribes. A long poll parked at a master that stopped answering would otherwise hang
 *  until its timeout (the long-poll wait plus the request timeout). */
function masterMoved(client: Pick<ClusterClient, 'onMasterChange'>, at: string | null): { moved: Promise<'moved'>; stop: () => void } {
  let stop = (): void => undefined;
  const moved = new Promise<'moved'>((resolve) => {
    stop = client.onMasterChange((addr) => {
      if (addr !== at) resolve('moved');
    });
  });
  return { moved, stop };
}

export interface PullLoopOptions {
  readonly brokers: Brokers;
  readonly group: string;
  readonly expression: string;
  /** The tags the expression accepts (null: all). */
  readonly tags: ReadonlySet<string> | null;
  readonly pullBatchSize: number;
  readonly longPollMs: number;
  readonly requestTimeoutMs: number;
  /** Flow control: pullThresholdForQueue and pullThresholdSizeForQueue. */
  readonly countMax: number;
  readonly bytesMax: number;
  readonly running: () => boolean;
  readonly dispatch: (pq: ProcessQueue) => void;
}

/** A pulled message as handlers see it: a retried one under the topic it was first sent to and
 *  with its first msgId. */
export function consumedOf(mq: MessageQueue, m: StoredMessage): ConsumedMessage {
  const retried = mq.topic.startsWith(RETRY_GROUP_TOPIC_PREFIX);
  const props = m.properties ?? {};
  const reconsumeTimes = typeof m.reconsumeTimes === 'number' ? m.reconsumeTimes : Number(props[PROPERTY_RECONSUME_TIME] ?? 0) || 0;
  return {
    ...m,
    topic: retried ? (props[PROPERTY_RETRY_TOPIC] ?? m.topic) : m.topic,
    msgId: retried ? (props[PROPERTY_ORIGIN_MESSAGE_ID] ?? m.msgId) : m.msgId,
    brokerName: mq.brokerName,
    reconsumeTimes,
  };
}

export async function pullLoop(pq: ProcessQueue, o: PullLoopOptions): Promise<void> {
  const mq = pq.mq;
  const waitMs = Math.min(o.longPollMs, PULL_WAIT_MS_MAX);
  let failures = 0;
  /** The replica the broker suggested (node id), null: the master. */
  let suggested: string | null = null;
  while (!pq.dropped && o.running()) {
    if (pq.isFull(o.countMax, o.bytesMax)) {
      await pq.waitForRoom(FLOW_CONTROL_RECHECK_MS);
      continue;
    }
    const client = o.brokers.client(mq.brokerName);
    if (client === undefined) {
      await delay(FLOW_CONTROL_RECHECK_MS);
      continue;
    }
    const at: string | null = suggested === null ? client.master : (o.brokers.nodeAddr(mq.brokerName, suggested) ?? client.master);
    const offset = pq.nextPullOffset;
    try {
      const frame = { type: 'pull' as const, topic: mq.topic, queueId: mq.queueId, offset, maxCount: o.pullBatchSize, maxBytes: PULL_BYTES_MAX, waitMs, ...(o.expression.trim() === '*' ? {} : { expression: o.expression }) };
      const timeoutMs = waitMs + o.requestTimeoutMs;
      const pull: Promise<PullResponse> = client.callAny<'pull'>(frame, { tries: PULL_TRIES, deadline: Date.now() + timeoutMs * PULL_TRIES, timeoutMs, prefer: at === null ? [] : [at] });
      // A pull parked at a master that another one replaced is abandoned (its answer, if any,
      // is ignored: the next pull starts at the same offset, so nothing is skipped or repeated).
      const watch: ReturnType<typeof masterMoved> | null = suggested === null ? masterMoved(client, at) : null;
      const resp: PullResponse | 'moved' = watch === null ? await pull : await Promise.race([pull, watch.moved]).finally(watch.stop);
      if (resp === 'moved') {
        pull.catch(() => undefined);
        continue;
      }
      if (pq.dropped) return;
      failures = 0;
      if (resp.suggestNodeId !== undefined) suggested = resp.suggestNodeId;
      const entries: QueueEntry[] = [];
      for (const m of resp.messages) {
        // The broker filters by tag; the tag string is checked again here (hash collisions).
        if (o.tags !== null && !o.tags.has(m.tags)) continue;
        entries.push({ msg: consumedOf(mq, m), offset: m.queueOffset, bytes: m.body.byteLength });
      }
      if (resp.messages.length === 0 && resp.nextOffset !== offset) pq.correctOffset(resp.nextOffset);
      pq.put(entries, resp.nextOffset);
      if (entries.length > 0) o.dispatch(pq);
    } catch {
      if (pq.dropped || !o.running()) return;
      suggested = null;
      await delay(backoffMs(failures++, 100, 3000));
    }
  }
}
