// What consumerConnection and consumerProgress share: the broker groups a command asks (--servers:
// one; --namesrv: every group the NameServer knows, or the --broker-name one), one call to each
// group's master, and the rows they print.
import { ClusterAdmin, ClusterClient, RaftmqError, groupServers, type BrokerInfo } from '../client/index.ts';
import type { ConsumerConnection, Subscription } from '../protocol/index.ts';
import { pickGroup, type Target } from './target.ts';

/** Deadline of the calls to one group's master, retries included. */
const GROUP_CALL_TIMEOUT_MS = 5_000;

export interface GroupEndpoint {
  /** null for --servers (the group's answer names it where it can). */
  readonly brokerName: string | null;
  readonly servers: readonly string[];
}

export interface GroupResult<T> {
  readonly brokerName: string | null;
  readonly value: T | null;
  readonly error: RaftmqError | null;
}

/** The groups a command asks. */
export async function groupEndpointsOf(target: Target): Promise<GroupEndpoint[]> {
  if (target.kind === 'servers') return [{ brokerName: null, servers: target.servers }];
  const admin = new ClusterAdmin({ namesrv: target.namesrv });
  try {
    const groups = await admin.groups();
    const chosen = target.brokerName === null ? groups : [pickGroup(groups, target.brokerName)];
    return chosen.map((g) => ({ brokerName: g.brokerName, servers: groupServers(g) }));
  } finally {
    await admin.close();
  }
}

/** `fn` on each group's master, together; a group's failure is its result, not the command's. */
export async function onEachMaster<T>(groups: readonly GroupEndpoint[], fn: (client: ClusterClient, call: { tries: number; deadline: number }) => Promise<T>): Promise<GroupResult<T>[]> {
  return Promise.all(
    groups.map(async (g): Promise<GroupResult<T>> => {
      if (g.servers.length === 0) return { brokerName: g.brokerName, value: null, error: new RaftmqError('CONNECTION_LOST', `the NameServer lists no live replica of ${g.brokerName}`) };
      const client = new ClusterClient({ servers: g.servers });
      try {
        return { brokerName: g.brokerName, value: await fn(client, { tries: 3, deadline: Date.now() + GROUP_CALL_TIMEOUT_MS }), error: null };
      } catch (err) {
        return { brokerName: g.brokerName, value: null, error: err instanceof RaftmqError ? err : new RaftmqError('INTERNAL', String(err), { cause: err }) };
      } finally {
        await client.close();
      }
    }),
  );
}

/** One member of the group as every master that knows it sees it. */
export interface ConnectionRow {
  readonly clientId: string;
  readonly clientAddr: string;
  readonly consumeModel: string;
  readonly subscriptions: readonly Subscription[];
  /** The broker groups whose master has it as a live member. */
  readonly brokerNames: string[];
}

/** Members merged over the groups' answers, by client id. */
export function connectionRowsOf(answers: readonly { brokerName: string; connections: readonly ConsumerConnection[] }[]): ConnectionRow[] {
  const rows = new Map<string, ConnectionRow>();
  for (const a of answers) {
    for (const c of a.connections) {
      const row = rows.get(c.clientId) ?? { clientId: c.clientId, clientAddr: c.clientAddr, consumeModel: c.consumeModel, subscriptions: c.subscriptions, brokerNames: [] };
      row.brokerNames.push(a.brokerName);
      rows.set(c.clientId, row);
    }
  }
  return [...rows.values()].sort((x, y) => (x.clientId < y.clientId ? -1 : x.clientId > y.clientId ? 1 : 0));
}

/** A row of mqadmin consumerProgress. */
export interface ProgressRow {
  readonly topic: string;
  readonly brokerName: string;
  readonly queueId: number;
  /** The queue's max offset (the next to be written). */
  readonly brokerOffset: number;
  /** The group's committed offset (the next it reads). */
  readonly consumerOffset: number;
  readonly diff: number;
}

/** The group's queues in one master's brokerInfo: every queue of every topic it has an offset in. */
export function progressRowsOf(group: string, info: BrokerInfo): ProgressRow[] {
  const brokerName = info.status.brokerName;
  const maxOffsets = new Map<string, number>();
  for (const t of info.topics) for (const q of t.queues) maxOffsets.set(`${t.topic}\0${q.queueId}`, q.maxOffset);
  return info.consumerOffsets
    .filter((o) => o.group === group)
    .map((o) => {
      const brokerOffset = maxOffsets.get(`${o.topic}\0${o.queueId}`) ?? o.offset + o.lag;
      return { topic: o.topic, brokerName, queueId: o.queueId, brokerOffset, consumerOffset: o.offset, diff: Math.max(0, brokerOffset - o.offset) };
    })
    .sort((a, b) => a.topic.localeCompare(b.topic) || a.brokerName.localeCompare(b.brokerName) || a.queueId - b.queueId);
}
