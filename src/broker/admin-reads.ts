// The operator's reads of one replica: brokerInfo (the dashboard's picture of the group) and the
// message lookups by msgId and by key. Any replica answers from its own state, current or not:
// these are for looking, and a slave that is behind says so (BrokerInfo.staleness).
import { BROKER_INFO_ROWS_MAX, QUERY_MESSAGE_COUNT_MAX, RaftmqError, type BrokerInfo, type NodeStatus, type Request, type StoredMessage } from '../protocol/index.ts';
import type { Replica } from './replica.ts';
import type { BrokerStateMachine } from './state-machine.ts';

export interface AdminReadSources {
  readonly replica: Replica;
  readonly stateMachine: BrokerStateMachine;
  readonly metricsPort: number;
  status(): NodeStatus;
}

export function brokerInfoOf(src: AdminReadSources): BrokerInfo {
  const sm = src.stateMachine;
  const queues = sm.queueList(BROKER_INFO_ROWS_MAX);
  const offsets = sm.consumerOffsetList(BROKER_INFO_ROWS_MAX);
  return {
    status: src.status(),
    staleness: src.replica.readStaleness(),
    metricsPort: src.metricsPort,
    topics: queues.topics,
    consumerOffsets: offsets.offsets,
    roleChanges: src.replica.roleChanges(),
    keyIndexEntries: sm.keyIndexEntries,
    truncated: queues.truncated || offsets.truncated,
  };
}

/** viewMessage: the message, or none. */
export function viewMessage(sm: BrokerStateMachine, req: Extract<Request, { type: 'viewMessage' }>): StoredMessage[] {
  const m = sm.messageById(req.msgId);
  return m === undefined ? [] : [m];
}

/** queryMessage: the newest messages with the key, at most maxCount (1..QUERY_MESSAGE_COUNT_MAX). */
export function queryMessage(sm: BrokerStateMachine, req: Extract<Request, { type: 'queryMessage' }>): StoredMessage[] {
  if (typeof req.topic !== 'string' || typeof req.key !== 'string' || req.key === '') throw new RaftmqError('BAD_REQUEST', 'queryMessage needs a topic and a non-empty key');
  const max = req.maxCount;
  if (!Number.isInteger(max) || max < 1 || max > QUERY_MESSAGE_COUNT_MAX) throw new RaftmqError('BAD_REQUEST', `maxCount must be an integer in 1..${QUERY_MESSAGE_COUNT_MAX}`);
  return sm.messagesByKey(req.topic, req.key, max);
}
