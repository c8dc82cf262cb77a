// A load generator process (forked by the bench driver, talks over Node IPC): `inflight`
// independent loops, each `await producer.send(...)` on one shared Producer, as an application
// with that many concurrent requests would make them. It runs in its own process so its CPU is
// accounted apart from the servers' and it does not compete for the driver's event loop.
//
// The load is closed-loop: a loop makes its next send only after the previous ack, so there is
// no send schedule to fall behind (nothing for a coordinated-omission correction to fill in),
// and throughput is what K sends in flight achieve: msgs/s x mean latency = K (Little's law).
import { Producer } from '../../src/client/index.ts';
import { trace, traceAs, tracing } from '../../src/trace/index.ts';
import { GcPauses } from './gc-pauses.ts';
import { Histogram } from './histogram.ts';
import type { ChildMessage, DriverMessage, LoadChildConfig } from './load-protocol.ts';

const config = JSON.parse(process.argv[2] ?? '{}') as LoadChildConfig;
/** Resolves once the message is handed to the channel (so a disconnect after it loses nothing). */
const tell = (m: ChildMessage): Promise<void> => new Promise((resolve) => void process.send?.(m, undefined, undefined, () => resolve()));

// The driver gone (killed, Ctrl-C) means nobody collects the result: stop at once.
let leaving = false;
process.on('disconnect', () => process.exit(leaving ? 0 : 1));
// A driver that died while this module was loading closed the channel before the listener was
// there to hear it.
if (!process.connected) process.exit(1);

traceAs('client');
const target = config.namesrv !== undefined ? { namesrv: [...config.namesrv] } : { servers: [...(config.servers ?? [])] };
const producer = new Producer({ ...target, idempotence: config.idempotence });
const body = Buffer.alloc(config.size, 0x61);
const message = { body };

let running = true;
let measuring = false;
let windowStart = 0;
let windowAcked = 0;
let windowFailed = 0;
let firstError = '';
const windowHist = new Histogram();
// Seen: 3-5 ms scavenges when a Map's cleared tables kept the sends alive (Producer.flushBatches).
const windowGc = new GcPauses();
let pollAcked = 0;
let pollFailed = 0;
const pollHist = new Histogram();

async function sendLoop(): Promise<void> {
  while (running) {
    const t0 = performance.now();
    try {
      if (tracing) trace('client.send', -1);
      await producer.send(config.topic, message);
      if (tracing) trace('client.ack', -1);
      const ms = performance.now() - t0;
      const bucket = Histogram.bucketOf(ms);
      pollHist.recordInBucket(bucket, ms);
      pollAcked++;
      if (measuring) {
        windowHist.recordInBucket(bucket, ms);
        windowAcked++;
      }
    } catch (err) {
      pollFailed++;
      if (measuring) {
        windowFailed++;
        if (firstError === '') firstError = (err as Error).message;
      }
    }
  }
}

/** One send before reporting ready: the route is known and the master takes writes. */
async function firstSend(): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await producer.send(config.topic, message);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

let loops: Promise<void>[] = [];

process.on('message', (m: DriverMessage) => {
  if (m.type === 'measure') {
    windowHist.reset();
    windowAcked = 0;
    windowFailed = 0;
    firstError = '';
    windowGc.start();
    measuring = true;
    windowStart = performance.now();
  } else if (m.type === 'poll') {
    void tell({ type: 'progress', acked: pollAcked, failed: pollFailed, hist: pollHist.toJSON() });
    pollAcked = 0;
    pollFailed = 0;
    pollHist.reset();
  } else if (m.type === 'stop') {
    measuring = false;
    running = false;
    const seconds = (performance.now() - windowStart) / 1000;
    // Nothing counted changes once `measuring` is off; the GC count waits for its last entries.
    const told = windowGc
      .stop()
      .then(() => tell({ type: 'result', acked: windowAcked, failed: windowFailed, firstError, seconds, hist: windowHist.toJSON(), gcPauseMs: windowGc.pauseMs }));
    // Let the sends in flight finish (they are not counted) so the servers see no reset
    // connections, then leave; the driver kills us if this takes too long.
    void Promise.allSettled([told, ...loops])
      .then(() => producer.close())
      .finally(() => {
        leaving = true;
        process.disconnect?.();
      });
  }
});

try {
  await firstSend();
  loops = Array.from({ length: config.inflight }, () => sendLoop());
  void tell({ type: 'ready' });
} catch (err) {
  await tell({ type: 'fatal', error: `first send failed: ${(err as Error).message}` });
  leaving = true;
  process.disconnect?.();
}
