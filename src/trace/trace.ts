// Per-message latency tracing across processes, for `npm run bench -- --inflight 1 --trace DIR`:
// where the time of one send goes, step by step, from the client through the master and a slave
// and back. Off unless RAFTMQ_TRACE_DIR is set in a process's environment (then one branch per
// call site); on, each process appends `event index microseconds` lines to
// DIR/<name>-<pid>.trace, stamped with CLOCK_MONOTONIC, which every process on the machine shares.
// The lines are buffered and written every FLUSH_MS, so a traced process does no extra I/O per
// event, and at most EVENTS_MAX are kept. The steps are put together by
// scripts/bench/latency-breakdown.ts.
import fs from 'node:fs';
import path from 'node:path';

/** The points a send passes. `index` is the Raft log index where one is known, else -1. */
export type TraceEvent =
  // the load process (client)
  | 'client.send' // producer.send() called
  | 'client.ack' // its promise resolved
  // the master's broker server
  | 'server.request' // a send request decoded
  | 'server.reply' // its answer queued for the client
  // the replica driver (index: first proposed, last of an append, the acknowledged one)
  | 'replica.propose'
  | 'replica.sendAppend' // an append with entries handed to the peer transport
  | 'replica.recvAppend' // the peer transport decoded one
  | 'replica.durable' // a write (ending at index) became durable
  | 'replica.sendAck' // an append acknowledgement handed to the peer transport
  | 'replica.recvAck' // the peer transport decoded one
  | 'replica.apply'
  // the commitlog (index: last record written, last record a flush round covers)
  | 'log.writeStart'
  | 'log.written'
  | 'log.flushStart'
  | 'log.flushEnd';

const EVENTS_MAX = 2_000_000;
const FLUSH_MS = 200;

const dir = process.env.RAFTMQ_TRACE_DIR ?? '';
/** True when this process records trace events. */
export const tracing = dir !== '';

let file = '';
let lines: string[] = [];
let recorded = 0;

/** Names this process's trace file (`name` is a replica id or 'client') and starts writing it. */
export function traceAs(name: string): void {
  if (!tracing || file !== '') return;
  fs.mkdirSync(dir, { recursive: true });
  file = path.join(dir, `${name}-${process.pid}.trace`);
  setInterval(flushTrace, FLUSH_MS).unref();
  process.on('exit', flushTrace);
}

export function trace(event: TraceEvent, index: number): void {
  if (!tracing || recorded >= EVENTS_MAX) return;
  recorded++;
  lines.push(`${event} ${index} ${(Number(process.hrtime.bigint()) / 1000).toFixed(1)}`);
}

function flushTrace(): void {
  if (file === '' || lines.length === 0) return;
  const text = `${lines.join('\n')}\n`;
  lines = [];
  try {
    fs.appendFileSync(file, text);
  } catch {
    // a trace is a diagnostic: a full disk must not take the replica down
  }
}
