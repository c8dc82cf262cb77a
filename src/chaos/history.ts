// The contract between a chaos run and its checker: the history file (one JSON event per line)
// and the final dump of each replica's log. The runner writes these; the checker only reads them,
// so a history can be checked again later, or written by hand in a test.

/** Who did it: a producer ('p0'..), a consumer ('c0'..), the fault injector ('nemesis') or the
 *  observer that polls replica roles ('monitor'). */
export type ClientName = string;

export type HistoryEvent = SendEvent | ReceiveEvent | FaultEvent | MasterEvent | ConsumeEvent;

/** Common fields. `t` is milliseconds since the run started (monotonic clock); `wall` is epoch ms. */
interface EventBase {
  readonly t: number;
  readonly wall: number;
  readonly client: ClientName;
}

/**
 * A producer's send of one message with a unique id, in three steps: 'invoke' when the call is
 * made, then exactly one of 'ok' (acknowledged: the message is durable on a majority), 'fail'
 * (certainly not stored: refused before it could be) or 'unknown' (timeout or connection lost
 * after the request left: it may or may not be stored).
 */
export interface SendEvent extends EventBase {
  readonly op: 'send';
  readonly type: 'invoke' | 'ok' | 'fail' | 'unknown';
  /** The workload's unique message id (also inside the stored message). */
  readonly id: string;
  /** Message key, when the workload gave one: messages of one key must stay in send order. */
  readonly key?: string;
  readonly topic: string;
  /** ok only: the broker group (brokerName) that stored it; absent when the run has one group. */
  readonly group?: string;
  /** ok only: where the broker stored it (in `group`). */
  readonly queueId?: number;
  readonly queueOffset?: number;
  /** ok / fail / unknown: milliseconds since the invoke. */
  readonly latencyMs?: number;
  /** fail / unknown: the error code or message. */
  readonly error?: string;
}

/** A consumer saw a message (type is always 'ok'). */
export interface ReceiveEvent extends EventBase {
  readonly op: 'receive';
  readonly type: 'ok';
  readonly id: string;
  readonly key?: string;
  readonly topic: string;
  /** The broker group it was read from; absent when the run has one group. */
  readonly group?: string;
  readonly queueId: number;
  readonly queueOffset: number;
}

/** The nemesis: 'start' when a fault is injected, 'end' when it is healed. */
export interface FaultEvent extends EventBase {
  readonly op: 'fault';
  readonly type: 'start' | 'end';
  /** Fault name as given on the command line, e.g. 'leader-kill'. */
  readonly fault: string;
  /** Pairs a start with its end. */
  readonly faultId: number;
  /** Human-readable: which nodes, which rules. */
  readonly detail?: string;
}

/** The monitor saw a (new) master of a group, or none ('' when no replica answered as master). */
export interface MasterEvent extends EventBase {
  readonly op: 'master';
  readonly type: 'info';
  /** The broker group; absent when the run has one group. */
  readonly group?: string;
  readonly node: string;
  readonly term?: number;
}

/**
 * A member of a consumer group (a PushConsumer of the workload; rules in consume-check.ts), one of:
 * - 'join': the member started (its group's settings: `orderly`, `maxReconsumeTimes`, the topic);
 * - 'leave': it shut down gracefully; 'kill': it was stopped without committing (a crash);
 * - 'rebalance': its allocation changed to `queues`;
 * - 'call': one handler call of one message, from `startT` to `t`, that ended in `result`;
 * - 'dlq': after the run, the message `id` was found in the group's %DLQ% topic.
 * `client` names the member ('g0-m1'); `consumerGroup` its group.
 */
export interface ConsumeEvent extends EventBase {
  readonly op: 'consume';
  readonly type: 'join' | 'leave' | 'kill' | 'rebalance' | 'call' | 'dlq';
  readonly consumerGroup: string;
  /** join: the topic the group consumes. call: the message's (original) topic. */
  readonly topic?: string;
  /** join: ordered consumption (queue locks). */
  readonly orderly?: boolean;
  /** join: the group's maxReconsumeTimes. */
  readonly maxReconsumeTimes?: number;
  /** rebalance: the member's queues after it, as queueName() spells them. */
  readonly queues?: readonly string[];
  /** call, dlq: the workload's message id. */
  readonly id?: string;
  readonly key?: string;
  /** call: the queue the message was pulled from (a retried message's is its retry topic's). */
  readonly queue?: string;
  readonly queueOffset?: number;
  /** call: when the handler was called (same clock as `t`, which is when it returned). */
  readonly startT?: number;
  readonly reconsumeTimes?: number;
  /** call: 'success', or 'fail' (the handler asked for a retry or threw). */
  readonly result?: 'success' | 'fail';
}

/** A queue as consume events name it: broker group, topic, queue id. */
export function queueName(brokerName: string, topic: string, queueId: number): string {
  return `${brokerName}/${topic}/${queueId}`;
}

/** One replica's log at the end of a run, read from its files after the run (offline). */
export interface ReplicaDump {
  readonly node: string;
  /** Its broker group (brokerName): replicas are compared within their group, and a message id
   *  must be stored by one group only. Absent: the run's only group. */
  readonly group?: string;
  /** Entries up to this index are committed as far as this replica knows. */
  readonly commitIndex: number;
  /** Every entry in the replica's log (committed or not), in index order. `hash` is any stable
   *  digest of the entry's term and bytes (e.g. hex crc32 or sha1). */
  readonly entries: readonly { readonly index: number; readonly term: number; readonly hash: string }[];
  /** Messages stored by committed entries, in log order, decoded from the broker's commands. A
   *  retried batch an idempotent producer's window answered is in the log but stores nothing. */
  readonly messages: readonly DumpedMessage[];
  /** Committed sendBatch entries the state machine answered from a producer's window (a retry
   *  of a batch stored before) and so did not store. */
  readonly retriesAnswered?: number;
  /** Retention: `messages` are those of the entries after this log index (a mark whose snapshot
   *  seeded the replay; the log before it was cut). 0 or absent: from the log's start. */
  readonly replayedAfter?: number;
  /** Retention: the first queue offset `messages` cover, per queue the mark's snapshot lists
   *  (its next offset at the mark). A queue not listed is covered from 0. */
  readonly queueStarts?: readonly QueueStart[];
}

export interface QueueStart {
  readonly topic: string;
  readonly queueId: number;
  readonly offset: number;
}

export interface DumpedMessage {
  /** The workload's unique id, or '' for a message the workload did not write. */
  readonly id: string;
  readonly key?: string;
  readonly topic: string;
  readonly queueId: number;
  readonly queueOffset: number;
  readonly logIndex: number;
}

/** Parses a history file's text (JSON lines; blank lines ignored). Throws naming the bad line. */
export function parseHistory(text: string): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    let ev: unknown;
    try {
      ev = JSON.parse(line);
    } catch (err) {
      throw new Error(`history line ${i + 1}: not JSON: ${(err as Error).message}`);
    }
    if (typeof ev !== 'object' || ev === null || typeof (ev as { op?: unknown }).op !== 'string' || typeof (ev as { t?: unknown }).t !== 'number') {
      throw new Error(`history line ${i + 1}: not a history event (needs "op" and "t")`);
    }
    events.push(ev as HistoryEvent);
  }
  return events;
}

export function formatEvent(ev: HistoryEvent): string {
  return JSON.stringify(ev);
}
