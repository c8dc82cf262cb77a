// RocketMQ's suggestWhichBrokerId: with each pull answer, where the next pull of that queue should
// go. A master sends a consumer that is far behind to a caught-up slave, so reading an old
// backlog (from disk) does not take the master's memory and disk from the writers; a slave sends
// a consumer that is no longer far behind back to the master (or always, when slave reads are off
// there). "Far behind": the log bytes from the pulled message to the log's end are more than
// accessMessageInMemoryMaxRatio percent of what the master keeps of the log in memory, the
// commitlog's record cache (RocketMQ: of the machine's RAM, the page cache it reads from; raftmq's
// SYNC_FLUSH writes bypass the page cache, so the record cache is what a pull reads without disk).
import { Role, NONE, type NodeId, type RaftStatus } from '../../raft/index.ts';

/** A slave is suggested only while its match index is at most this many entries behind the
 *  master's commit index (a slave further behind would send the consumer back: NOT_MASTER). */
export const SUGGESTED_SLAVE_LAG_ENTRIES_MAX = 256;

export interface SlaveReadSettings {
  /** slaveReadEnable. */
  readonly enable: boolean;
  /** accessMessageInMemoryMaxRatio, percent. */
  readonly ratioPercent: number;
  /** Bytes of the log's tail this replica keeps in memory (the record cache). */
  readonly memoryBytes: number;
  /** Log bytes after `index` (CommitLog.bytesAfter). */
  bytesAfter(index: number): number;
}

/** What one pull read: the log index of its first message (0: none) and its queue. */
export interface PulledAt {
  readonly firstLogIndex: number;
  readonly queueId: number;
}

/** The node id the next pull should go to, or undefined to stay. `status` is this replica's. */
export function suggestNodeIdOf(settings: SlaveReadSettings, self: NodeId, status: RaftStatus, pulled: PulledAt): string | undefined {
  const farBehind = pulled.firstLogIndex > 0 && settings.bytesAfter(pulled.firstLogIndex - 1) > (settings.memoryBytes * settings.ratioPercent) / 100;
  if (status.role === Role.Leader) {
    if (!settings.enable || !farBehind) return undefined;
    const slaves = Object.entries(status.progress)
      .filter(([id, p]) => id !== self && p.recentActive && p.match + SUGGESTED_SLAVE_LAG_ENTRIES_MAX >= status.commit)
      .map(([id]) => id)
      .sort();
    // Queues spread over the caught-up slaves, each queue to the same one while the set holds.
    return slaves.length === 0 ? undefined : slaves[pulled.queueId % slaves.length];
  }
  if (status.leaderId === NONE || status.leaderId === self) return undefined;
  return !settings.enable || !farBehind ? status.leaderId : undefined;
}
