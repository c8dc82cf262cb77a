// An in-process master for push consumer tests: a real BrokerServer over an in-memory state
// machine whose fake replica applies each proposal at once (test/broker/harness.ts), listening on
// 127.0.0.1 and closed by the test. Messages are sent through the state machine directly.
import type { Test } from 'tap';
import { BrokerServer, ScheduleService, type BrokerServerOptions } from '../../src/broker/index.ts';
import type { MessageInput } from '../../src/protocol/index.ts';
import { Harness, applyingMaster, testServerOptions } from '../broker/harness.ts';

export interface TestMaster {
  readonly h: Harness;
  readonly server: BrokerServer;
  readonly addr: string;
  /** Shuts `c` down when the test ends, before the master closes (else its last commits and
   *  unregister would wait out their timeouts). */
  track<C extends { shutdown(): Promise<void> }>(c: C): C;
  createTopic(topic: string, queues: number): void;
  /** Stores `bodies` (each with `extra`: tags, keys...) in one queue. */
  send(topic: string, queueId: number, bodies: readonly string[], extra?: Partial<MessageInput>): void;
}

/** `delayLevelsMs` (messageDelayLevel): also the master's delayed delivery, every 20 ms. */
export async function startMaster(t: Test, over: Partial<BrokerServerOptions> = {}): Promise<TestMaster> {
  const h = new Harness();
  const replica = applyingMaster(h);
  const server = new BrokerServer(testServerOptions(h.sm, replica, { autoCreateTopicEnable: false, ...over }));
  await server.start();
  const tracked: { shutdown(): Promise<void> }[] = [];
  t.teardown(async () => {
    await Promise.all(tracked.map((c) => c.shutdown()));
    await server.close();
  });
  if (over.delayLevelsMs !== undefined) {
    const schedule = new ScheduleService({
      stateMachine: h.sm,
      delayLevelsMs: over.delayLevelsMs,
      autoCreateQueues: 0,
      leaderReady: () => true,
      propose: (data) => replica.propose(data),
      logger: { warn: () => undefined, info: () => undefined, error: () => undefined, debug: () => undefined } as never,
      intervalMs: 20,
    });
    schedule.start();
    t.teardown(() => schedule.stop());
  }
  let ts = Date.now();
  return {
    h,
    server,
    addr: `127.0.0.1:${server.port}`,
    track: (c) => {
      tracked.push(c);
      return c;
    },
    createTopic: (topic, queues) => void h.run({ kind: 'createTopic', topic, queues }, 3),
    send: (topic, queueId, bodies, extra = {}) => {
      const cmd = h.sm.prepareSend(topic, queueId, bodies.map((b) => ({ ...extra, body: Buffer.from(b) })), ts++);
      h.run(cmd, 3);
    },
  };
}

/** Waits until `cond` holds (polling every 10 ms); fails after `ms` (a liveness guard, many
 *  times the expected time). */
export async function until(t: Test, what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) {
      t.fail(`timed out waiting: ${what}`);
      throw new Error(`timed out waiting: ${what}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}
