// The master's ScheduleService over an in-memory state machine whose proposals apply at once, on
// a clock of the test's: nothing is proposed before a message is due or while not a ready master;
// due messages bound for alternating queues (a run of one message each) are all delivered after
// ONE timer look, each proposal applied starting the next; one proposal per level in flight.
import t, { type Test } from 'tap';
import { ScheduleService, routeDelayed, type ApplyResult } from '../../src/broker/index.ts';
import { SCHEDULE_TOPIC } from '../../src/protocol/index.ts';
import { Harness } from './harness.ts';

const LEVELS_MS = [100, 200];
const silent = { debug() {}, info() {}, warn() {}, error() {}, flush() {}, close: async () => {} };

function setup(t: Test, opts: { ready?: () => boolean; hold?: boolean; refuse?: () => boolean } = {}) {
  const h = new Harness();
  h.run({ kind: 'createTopic', topic: 'T', queues: 2 });
  let now = 1000;
  let proposals = 0;
  const held: (() => void)[] = [];
  const propose = async (data: Uint8Array): Promise<ApplyResult> => {
    proposals++;
    if (opts.hold === true) await new Promise<void>((r) => held.push(r));
    if (opts.refuse?.() === true) return { type: 'error', code: 'OVERLOADED', message: 'refused by the test' };
    const entry = { index: h.log.entries.length + 1, term: 1, type: 0, data };
    h.log.entries.push(entry);
    return h.sm.apply(entry);
  };
  // A long interval: the test calls check() itself (the timer only marks the service started).
  const service = new ScheduleService({ stateMachine: h.sm, delayLevelsMs: LEVELS_MS, autoCreateQueues: 0, leaderReady: opts.ready ?? (() => true), propose, logger: silent, nowMs: () => now, intervalMs: 3_600_000 });
  service.start();
  t.teardown(() => service.stop());
  for (let i = 0; i < 40; i++) h.run(routeDelayed(h.sm.prepareSend('T', i % 2, [{ body: Buffer.from(`m${i}`), properties: { DELAY: '1' } }], now), LEVELS_MS.length));
  return { h, service, held, setNow: (ms: number) => (now = ms), proposals: () => proposals };
}

const delivered = (h: Harness) => [0, 1].reduce((n, q) => n + (h.sm.topicQueueCount('T')! > q ? h.sm.queueBounds('T', q).maxOffset : 0), 0);

async function settle(): Promise<void> {
  for (let i = 0; i < 200; i++) await new Promise((r) => setImmediate(r));
}

t.test('nothing before it is due; then one look delivers every due message, run after run', async (t) => {
  const { h, service, setNow, proposals } = setup(t);
  setNow(1099);
  service.check();
  await settle();
  t.equal(proposals(), 0, 'not due 1 ms before its delay');
  setNow(1100);
  service.check();
  await settle();
  t.equal(delivered(h), 40, 'all 40 delivered after one look');
  t.equal(proposals(), 40, 'one proposal per run (the queues alternate: runs of one)');
  t.equal(h.sm.scheduleOffset(1), 40);
  t.equal(h.sm.queueBounds(SCHEDULE_TOPIC, 0).maxOffset, 40);
  service.check();
  await settle();
  t.equal(proposals(), 40, 'nothing left to propose');
});

t.test('a replica that is not a ready master proposes nothing', async (t) => {
  const { service, setNow, proposals } = setup(t, { ready: () => false });
  setNow(5000);
  service.check();
  await settle();
  t.equal(proposals(), 0);
});

t.test('one proposal per level in flight: looks while it waits propose nothing more', async (t) => {
  const { h, service, held, setNow, proposals } = setup(t, { hold: true });
  setNow(5000);
  service.check();
  service.check();
  await settle();
  t.equal(proposals(), 1);
  held.shift()!();
  await settle();
  t.equal(proposals(), 2, 'the next run once the first applied');
  t.equal(delivered(h), 1);
});

t.test('a delivery refused on apply is tried again after a doubling wait (bounded), then goes through', async (t) => {
  let refuse = true;
  const { h, service, setNow, proposals } = setup(t, { refuse: () => refuse });
  const at = async (ms: number) => {
    setNow(ms);
    service.check();
    await settle();
    return proposals();
  };
  t.equal(await at(5000), 1, 'tried');
  t.equal(await at(5199), 1, 'not again within 200 ms');
  t.equal(await at(5200), 2, 'again after 200 ms');
  t.equal(await at(5599), 2, 'not again within 400 ms');
  t.equal(await at(5600), 3, 'again after 400 ms');
  refuse = false;
  t.equal(await at(5600 + 800), 43, 'once apply takes it, every due run goes at once');
  t.equal(delivered(h), 40);
});
