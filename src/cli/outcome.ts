// How the cluster-wide topic commands (updateTopic, deleteTopic) print what happened on each
// broker group.
import { Admin, RaftmqError, type GroupOutcome } from '../client/index.ts';

/** The --json shape of one group's outcome: the error as {code, message}, or null. */
export interface OutcomeJson {
  readonly brokerName: string;
  readonly result: GroupOutcome['result'];
  readonly error: { readonly code: string; readonly message: string } | null;
}

export function outcomeJson(o: GroupOutcome): OutcomeJson {
  return { brokerName: o.brokerName, result: o.result, error: o.error === null ? null : { code: o.error.code, message: o.error.message } };
}

/** One plain line per group: `done` says what was done; an error is its code and message. */
export function outcomeLines(outcomes: readonly GroupOutcome[], done: string, absent: string): string[] {
  return outcomes.map((o) => {
    if (o.result === 'done') return `${o.brokerName}: ${done}`;
    if (o.result === 'absent') return `${o.brokerName}: ${absent}`;
    return `${o.brokerName}: failed: ${o.error?.code ?? 'INTERNAL'}: ${(o.error?.message ?? '').replace(/\s*\n\s*/g, ' ')}`;
  });
}

/** Exit status: 1 when a group failed (a group without the topic is no failure of deleteTopic). */
export function outcomeStatus(outcomes: readonly GroupOutcome[]): number {
  return outcomes.some((o) => o.result === 'failed') ? 1 : 0;
}

/** `fn` on the group --servers names, as a GroupOutcome named after the group (its status says
 *  its brokerName; the address when none answers). */
export async function oneGroup(servers: string[], fn: (admin: Admin) => Promise<void>): Promise<GroupOutcome> {
  const admin = new Admin({ servers });
  try {
    const named = admin.statusAll().then((all) => all.find((r) => r.status !== null)?.status?.brokerName ?? servers.join(','));
    try {
      await fn(admin);
      return { brokerName: await named, result: 'done', error: null };
    } catch (err) {
      if (!(err instanceof RaftmqError)) throw err;
      return { brokerName: await named, result: err.code === 'TOPIC_NOT_FOUND' ? 'absent' : 'failed', error: err };
    }
  } finally {
    await admin.close();
  }
}
