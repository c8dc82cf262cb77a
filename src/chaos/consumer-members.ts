// The consumer group of a chaos run (`--push-consumers N`): N members (consumer-member.ts), each
// a child process, so `consumer-kill` can SIGKILL one and start a new one at heal. Their events
// go to the history as ConsumeEvents (rules in consume-check.ts); at the end, after the drain,
// the group's DLQ is read from every broker group and recorded as 'dlq' events.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { PullConsumer } from '../client/index.ts';
import { delay } from '../net/index.ts';
import { dlqTopicOf, RaftmqError } from '../protocol/index.ts';
import { onExitCleanup } from './cleanup.ts';
import { REPO_DIR, SRC_DIR } from './code-snapshot.ts';
import type { ConsumeEvent } from './history.ts';
import type { HistoryRecorder, UnstampedEvent } from './recorder.ts';
import { idOfBody } from './workload.ts';

/** The group's name in the brokers and the history. */
export const CHAOS_CONSUMER_GROUP = 'chaos-push';
/** Members of one run (each a process). */
export const PUSH_CONSUMERS_MAX = 8;
/** Tries of a failed message before the DLQ: small, so every retry chain ends within a run. */
export const CHAOS_MAX_RECONSUME_TIMES = 3;
/** Share of the handler's tries that fail (besides the doomed messages). */
const FAIL_PERCENT = 10;
/** The brokers' delay levels in a run with consumers: every retry waits 1 s. */
export const CHAOS_MESSAGE_DELAY_LEVEL = Array.from({ length: 18 }, () => '1s').join(' ');
const STOP_GRACE_MS = 10_000;
const DLQ_PULL_COUNT = 256;

export interface ConsumerMembersOptions {
  readonly count: number;
  readonly orderly: boolean;
  readonly topic: string;
  /** The NameServers, or one group's replicas. */
  readonly namesrv?: readonly string[];
  readonly servers?: readonly string[];
  /** Every broker group's replicas (the DLQ is read from each). */
  readonly groupServers: ReadonlyMap<string, readonly string[]>;
  readonly seed: number;
  readonly srcDir?: string;
  readonly recorder: HistoryRecorder;
  readonly log: (line: string) => void;
}

interface Member {
  proc: ChildProcess | null;
  /** Queues the running process holds after its last rebalance. */
  queues: number;
  /** Starts so far (the client id changes with each, as a restarted process's would). */
  starts: number;
  name: string;
}

export class ConsumerMembers {
  private readonly members: Member[];
  /** Acknowledged ids not yet consumed successfully nor failed for the last time, and the ids
   *  that were (an ack may come after the consumption). Both bounded by the run's sends. */
  private readonly pending = new Set<string>();
  private readonly settled = new Set<string>();
  private readonly unregister: () => void;
  calls = 0;

  constructor(private readonly opts: ConsumerMembersOptions) {
    if (!Number.isInteger(opts.count) || opts.count < 1 || opts.count > PUSH_CONSUMERS_MAX) throw new Error(`push consumers: 1..${PUSH_CONSUMERS_MAX}, got ${opts.count}`);
    this.members = Array.from({ length: opts.count }, (_, i) => ({ proc: null, queues: 0, starts: 0, name: `m${i}` }));
    this.unregister = onExitCleanup(() => {
      for (const m of this.members) if (m.proc?.pid !== undefined && this.alive(m)) killPid(m.proc.pid, 'SIGKILL');
    });
  }

  get count(): number {
    return this.members.length;
  }

  /** The workload acknowledged `id`: the drain waits for it. */
  acked(id: string): void {
    if (!this.settled.has(id)) this.pending.add(id);
  }

  /** Queues member i's current process holds (0 before its first rebalance). */
  queuesOf(i: number): number {
    return this.members[i]!.queues;
  }

  running(i: number): boolean {
    return this.alive(this.members[i]!);
  }

  startAll(): void {
    for (let i = 0; i < this.members.length; i++) this.start(i);
  }

  start(i: number): void {
    const m = this.members[i]!;
    if (this.alive(m)) return;
    m.starts++;
    m.queues = 0;
    const o = this.opts;
    const config = {
      group: CHAOS_CONSUMER_GROUP,
      clientId: `chaos@${m.name}-${m.starts}`,
      topic: o.topic,
      ...(o.namesrv ? { namesrv: o.namesrv } : { servers: o.servers }),
      orderly: o.orderly,
      maxReconsumeTimes: CHAOS_MAX_RECONSUME_TIMES,
      failPercent: FAIL_PERCENT,
      seed: o.seed,
    };
    const main = path.join(o.srcDir ?? SRC_DIR, 'chaos', 'consumer-member.ts');
    const proc = spawn(process.execPath, ['--import', 'tsx', main, JSON.stringify(config)], { cwd: REPO_DIR, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    // One name per process: lines of a killed one still in the pipe keep theirs.
    const client = `${m.name}.${m.starts}`;
    proc.on('error', (err) => o.log(`push consumer ${client}: ${err.message}`));
    // Killed (consumer-kill) or stopped by us: signalCode or 0; anything else is worth a line.
    proc.on('exit', (code) => {
      if (code !== null && code !== 0) o.log(`push consumer ${client} exited with ${code} (its stderr is above)`);
    });
    m.proc = proc;
    this.record(client, { type: 'join', topic: o.topic, orderly: o.orderly, maxReconsumeTimes: CHAOS_MAX_RECONSUME_TIMES });
    readline.createInterface({ input: proc.stdout! }).on('line', (line) => this.onLine(client, line, (queues) => {
      if (m.proc === proc) m.queues = queues;
    }));
  }

  /** SIGKILL member i (a crash); resolves once it exited. Returns its name. */
  async kill(i: number): Promise<string> {
    const m = this.members[i]!;
    await this.signalAndWait(m, 'SIGKILL');
    this.record(`${m.name}.${m.starts}`, { type: 'kill' });
    return m.name;
  }

  /** SIGTERM every member (graceful: commit, unregister) and wait. */
  async stopAll(): Promise<void> {
    await Promise.all(this.members.map((m) => this.signalAndWait(m, 'SIGTERM')));
    this.unregister();
  }

  /** Waits until every acknowledged message was consumed or failed its last try (or the
   *  timeout). True when nothing is pending. */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && this.pending.size > 0) await delay(200);
    return this.pending.size === 0;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Reads %DLQ%<group> on every broker group and records each message as a 'dlq' event. */
  async readDlq(): Promise<number> {
    let found = 0;
    const topic = dlqTopicOf(CHAOS_CONSUMER_GROUP);
    for (const [brokerName, servers] of this.opts.groupServers) {
      const reader = new PullConsumer({ servers: [...servers], group: 'chaos-dlq-reader', requestTimeoutMs: 3000 });
      try {
        let queues: number[];
        try {
          queues = (await reader.queuesOf(topic)).map((q) => q.queueId);
        } catch (err) {
          if (err instanceof RaftmqError && err.code === 'TOPIC_NOT_FOUND') continue; // nothing failed for good there
          throw err;
        }
        for (const queueId of queues) {
          let offset = 0;
          for (;;) {
            const resp = await reader.pull(topic, queueId, offset, { maxCount: DLQ_PULL_COUNT });
            for (const msg of resp.messages) {
              found++;
              this.opts.recorder.record({ op: 'consume', type: 'dlq', client: 'dlq-reader', consumerGroup: CHAOS_CONSUMER_GROUP, id: idOfBody(msg.body), queue: `${brokerName}/${topic}/${queueId}`, queueOffset: msg.queueOffset });
            }
            if (resp.messages.length === 0 || resp.nextOffset <= offset) break;
            offset = resp.nextOffset;
          }
        }
      } finally {
        await reader.close();
      }
    }
    return found;
  }

  private onLine(m: string, line: string, onQueues: (count: number) => void): void {
    let e: { e?: string; at?: number; start?: number; [k: string]: unknown };
    try {
      e = JSON.parse(line) as typeof e;
    } catch {
      return; // not ours (a stray print)
    }
    const r = this.opts.recorder;
    if (e.e === 'rebalance') {
      const queues = Array.isArray(e.queues) ? e.queues.map(String) : [];
      onQueues(queues.length);
      r.recordAt(this.event(m, { type: 'rebalance', queues }), r.fromEpoch(e.at ?? 0));
    }
    else if (e.e === 'left') r.recordAt(this.event(m, { type: 'leave' }), r.fromEpoch(e.at ?? 0));
    else if (e.e === 'call') {
      this.calls++;
      const id = String(e.id ?? '');
      const result = e.result === 'success' ? 'success' : 'fail';
      const reconsumeTimes = Number(e.reconsumeTimes ?? 0);
      if (result === 'success' || reconsumeTimes >= CHAOS_MAX_RECONSUME_TIMES) {
        this.pending.delete(id);
        this.settled.add(id);
      }
      r.recordAt(
        this.event(m, {
          type: 'call',
          id,
          ...(typeof e.key === 'string' ? { key: e.key } : {}),
          queue: String(e.queue),
          queueOffset: Number(e.queueOffset),
          startT: r.fromEpoch(e.start ?? 0),
          reconsumeTimes,
          result,
        }),
        r.fromEpoch(e.at ?? 0),
      );
    }
  }

  private record(m: string, rest: Omit<ConsumeEvent, 't' | 'wall' | 'client' | 'op' | 'consumerGroup'>): void {
    this.opts.recorder.record(this.event(m, rest));
  }

  private event(client: string, rest: Omit<ConsumeEvent, 't' | 'wall' | 'client' | 'op' | 'consumerGroup'>): UnstampedEvent {
    return { op: 'consume', client, consumerGroup: CHAOS_CONSUMER_GROUP, ...rest };
  }

  private alive(m: Member): boolean {
    return m.proc !== null && m.proc.exitCode === null && m.proc.signalCode === null;
  }

  private async signalAndWait(m: Member, signal: NodeJS.Signals): Promise<void> {
    const p = m.proc;
    if (!p || !this.alive(m) || p.pid === undefined) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    killPid(p.pid, signal);
    const timer = setTimeout(() => killPid(p.pid!, 'SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }
}

function killPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}
