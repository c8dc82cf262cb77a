// The dashboard's tables, built from what the replicas answer (brokerInfo). A new kind of state
// gets a builder here and a line in SECTION_BUILDERS; the page renders every section the same way.
import type { BrokerInfo } from '../protocol/index.ts';
import type { Section } from './model.ts';

/** What a builder gets: every replica's last answer and the master's (null without one). */
export interface SectionInput {
  readonly master: BrokerInfo | null;
  /** The freshest answer of any replica, for when there is no master. */
  readonly best: BrokerInfo | null;
  /** Each replica's last answer (null: never answered) and whether it answers now. */
  readonly infos: readonly { readonly addr: string; readonly info: BrokerInfo | null; readonly up: boolean }[];
}

const TRUNCATED = 'the replica cut its lists at their row limit';

function topics({ master, best }: SectionInput): Section {
  const info = master ?? best;
  const rows = (info?.topics ?? []).flatMap((t) => t.queues.map((q) => ({ topic: t.topic, queue: q.queueId, minOffset: q.minOffset, maxOffset: q.maxOffset, messages: q.maxOffset - q.minOffset })));
  return {
    id: 'topics',
    title: 'Topics and queues',
    columns: [
      { key: 'topic', label: 'topic' },
      { key: 'queue', label: 'queue' },
      { key: 'minOffset', label: 'min offset' },
      { key: 'maxOffset', label: 'max offset' },
      { key: 'messages', label: 'messages' },
    ],
    rows,
    note: info === null ? 'no replica answered yet' : `${master === null ? `from ${info.status.nodeId} (no master now)` : `from the master ${info.status.nodeId}`}${info.truncated ? `; ${TRUNCATED}` : ''}`,
  };
}

function consumerGroups({ master, best }: SectionInput): Section {
  const info = master ?? best;
  const rows = (info?.consumerOffsets ?? []).map((o) => ({ group: o.group, topic: o.topic, queue: o.queueId, offset: o.offset, lag: o.lag }));
  return {
    id: 'consumer-groups',
    title: 'Consumer groups',
    columns: [
      { key: 'group', label: 'group' },
      { key: 'topic', label: 'topic' },
      { key: 'queue', label: 'queue' },
      { key: 'offset', label: 'committed offset' },
      { key: 'lag', label: 'lag' },
    ],
    rows,
    note: 'committed offsets and lag per queue (members and queue allocation appear once consumer groups have them)',
  };
}

function replicaDetails({ infos }: SectionInput): Section {
  return {
    id: 'replica-details',
    title: 'Replica details',
    columns: [
      { key: 'node', label: 'node' },
      { key: 'addr', label: 'address' },
      { key: 'pid', label: 'pid' },
      { key: 'metrics', label: 'metrics' },
      { key: 'keyIndex', label: 'key index entries' },
      { key: 'reads', label: 'reads' },
    ],
    rows: infos.map(({ addr, info, up }) => ({
      node: info?.status.nodeId ?? '?',
      addr,
      pid: info?.status.pid ?? '',
      metrics: info === null ? '' : info.metricsPort > 0 ? `${addr.slice(0, addr.lastIndexOf(':'))}:${info.metricsPort}/metrics` : 'off',
      keyIndex: info === null ? '' : info.keyIndexEntries < 0 ? 'off' : info.keyIndexEntries,
      reads: !up ? 'down' : (info?.staleness ?? 'current'),
    })),
    note: '',
  };
}

/** Every section, in page order. */
export const SECTION_BUILDERS: readonly ((input: SectionInput) => Section)[] = [topics, consumerGroups, replicaDetails];
