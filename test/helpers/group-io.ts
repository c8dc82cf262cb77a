// What multi-process tests do to a running group: load it, read a replica's queues back, wait
// for replicas to apply.
import { Connection } from '../../src/net/index.ts';
import type { Producer } from '../../src/client/index.ts';
import { createHash } from 'node:crypto';
import type { StoredMessage } from '../../src/protocol/index.ts';
import type { LocalCluster } from '../../src/cli/index.ts';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const bodyText = (m: StoredMessage) => Buffer.from(m.body).toString('utf8');

export interface LoadOptions {
  readonly prefix: string;
  readonly onAck?: (n: number) => void;
  readonly stopEarly?: () => boolean;
  /** Body of message `n` (default: the prefix and n). */
  readonly body?: (n: number) => Buffer;
  readonly queueId?: number;
}

/** Sends up to `count` distinct messages with `inflight` concurrent senders; returns the acked
 *  bodies (as text) and the failures. */
export async function sendLoad(producer: Producer, topic: string, count: number, inflight: number, opts: LoadOptions) {
  const acked = new Set<string>();
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count && !opts.stopEarly?.()) {
      const n = next++;
      const body = opts.body ? opts.body(n) : Buffer.from(`${opts.prefix}-${n}`);
      const key = opts.body ? `${opts.prefix}-${n}` : body.toString('utf8');
      try {
        await producer.send(topic, { body }, opts.queueId === undefined ? {} : { queueId: opts.queueId });
        acked.add(key);
        opts.onAck?.(acked.size);
      } catch (err) {
        failures.push(`${key}: ${(err as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
  return { acked, failures };
}

/** Every message of every queue of `topic` on one replica, in queue order. */
export async function readAll(addr: string, topic: string, queues: number): Promise<StoredMessage[][]> {
  const [host, port] = addr.split(':');
  const conn = new Connection({ host, port: Number(port), reconnect: 'lazy', requestTimeoutMs: 10_000 });
  try {
    const out: StoredMessage[][] = [];
    for (let q = 0; q < queues; q++) {
      const list: StoredMessage[] = [];
      for (;;) {
        const r = await conn.request<{ type: 'pullResult'; id: number; messages: StoredMessage[]; nextOffset: number; maxOffset: number }>({
          type: 'pull', topic, queueId: q, offset: list.length, maxCount: 1024, maxBytes: 4 << 20, waitMs: 0,
        } as never);
        list.push(...r.messages);
        if (r.messages.length === 0 || list.length >= r.maxOffset) break;
      }
      out.push(list);
    }
    return out;
  } finally {
    await conn.close();
  }
}

/** Waits until every running replica has applied at least `index`. */
export async function waitApplied(cluster: LocalCluster, index: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const sts = (await cluster.statuses()).filter((_, i) => cluster.running(cluster.nodes[i].id));
    if (sts.every((s) => s !== null && s.appliedIndex >= index)) return;
    await sleep(20);
  }
  const seen = (await cluster.statuses()).map((s) => (s ? `${s.nodeId}:${s.appliedIndex}` : '-')).join(' ');
  throw new Error(`replicas did not apply ${index} within ${timeoutMs} ms (${seen})`);
}

/** A producer sending without pause until stop(): what it acknowledged, when, and its failures. */
export class ContinuousLoad {
  readonly acked = new Set<string>();
  readonly failures: string[] = [];
  /** Date.now() of every acknowledgement, in order. */
  readonly ackTimes: number[] = [];
  private stopped = false;
  private readonly done: Promise<void>;

  constructor(producer: Producer, topic: string, inflight: number, opts: { prefix: string; body?: (n: number) => Buffer }) {
    let next = 0;
    const worker = async () => {
      while (!this.stopped) {
        const n = next++;
        const key = `${opts.prefix}-${n}`;
        const body = opts.body ? opts.body(n) : Buffer.from(key);
        try {
          await producer.send(topic, { body });
          this.acked.add(key);
          this.ackTimes.push(Date.now());
        } catch (err) {
          this.failures.push(`${key}: ${(err as Error).message}`);
        }
      }
    };
    this.done = Promise.all(Array.from({ length: inflight }, worker)).then(() => undefined);
  }

  /** Acknowledgements per second within [fromMs, toMs). */
  rate(fromMs: number, toMs: number): number {
    let count = 0;
    for (const at of this.ackTimes) if (at >= fromMs && at < toMs) count++;
    return toMs > fromMs ? (count * 1000) / (toMs - fromMs) : 0;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

/** A digest of queues read back (readAll): equal digests mean the same messages, byte for byte,
 *  at the same offsets, log indexes and ids. */
export function queuesFingerprint(view: readonly StoredMessage[][]): string {
  const h = createHash('sha256');
  for (const q of view) {
    h.update(`queue ${q.length}\n`);
    for (const m of q) h.update(`${m.msgId}:${m.logIndex}:${m.queueOffset}:${m.storeTimestamp}:${m.keys}:${m.tags}:`).update(m.body);
  }
  return h.digest('hex');
}
