// The master's retention loop: it proposes only as a ready master, one retain entry at a time, a
// mark once a segment's worth of log followed the last, and a cut once marks have expired.
import t from 'tap';
import { BrokerStateMachine, decodeCommand, RetentionService } from '../../src/broker/index.ts';
import { FakeLog } from './harness.ts';

const HOUR = 3_600_000;
const EVERY_HOUR = Array.from({ length: 24 }, (_, h) => h);
const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {}, flush: () => {}, close: async () => {} };

function setup() {
  const log = new FakeLog();
  const sm = new BrokerStateMachine(log.options());
  const state = { now: 100 * HOUR, ready: true, bytes: 0, proposals: [] as { cutAt: number; atMs: number }[] };
  let release: (() => void) | null = null;
  const service = new RetentionService({
    settings: { fileReservedMs: 72 * HOUR, deleteWhen: EVERY_HOUR, diskMaxUsedSpaceRatio: 75, diskSpaceCleanForciblyRatio: 85, markIntervalBytes: 1000, markCountMax: 100 },
    stateMachine: sm,
    // Every entry counts 600 bytes of log.
    bytesAfter: (index) => Math.max(0, log.entries.length - index) * 600 + state.bytes,
    diskUsedPercent: () => 10,
    leaderReady: () => state.ready,
    propose: (data) => {
      const cmd = decodeCommand(data);
      if (cmd.kind !== 'retain') throw new Error(`proposed ${cmd.kind}`);
      state.proposals.push({ cutAt: cmd.cutAt, atMs: cmd.atMs });
      return new Promise<unknown>((resolve) => {
        release = () => resolve(sm.apply(log.append(cmd)));
      });
    },
    logger: quiet,
    nowMs: () => state.now,
  });
  const commit = async (): Promise<void> => {
    release?.();
    release = null;
    await new Promise((r) => setImmediate(r));
  };
  const send = (n: number): void => {
    for (let i = 0; i < n; i++) sm.apply(log.append({ kind: 'sendBatch', topic: 'T', queueId: 0, storeTimestamp: 1, autoCreateQueues: 1, messages: [{ body: Uint8Array.of(i) }] }));
  };
  return { sm, state, service, commit, send };
}

t.test('a mark every segment of log, one proposal at a time, and only as a ready master', async (t) => {
  const { sm, state, service, commit, send } = setup();
  service.check();
  t.same(state.proposals, [], 'nothing to do on an empty log');
  send(2); // 1200 bytes
  state.ready = false;
  service.check();
  t.same(state.proposals, [], 'not as a master that is not ready');
  state.ready = true;
  service.check();
  service.check();
  t.same(state.proposals, [{ cutAt: 0, atMs: 100 * HOUR }], 'one mark, not two while the first is in flight');
  await commit();
  t.same(sm.retentionMarks.map((m) => m.index), [3]);
  service.check();
  t.equal(state.proposals.length, 1, 'no new mark right after one');
});

t.test('expired marks are cut (when the cut frees a segment), the others kept', async (t) => {
  const { sm, state, service, commit, send } = setup();
  send(2);
  service.check();
  await commit(); // mark at 3
  state.now += 10 * HOUR;
  send(2);
  service.check();
  await commit(); // mark at 6
  state.now += 63 * HOUR; // mark 3 is 73 h old, mark 6 63 h
  service.check();
  t.match(state.proposals.at(-1), { cutAt: 3 }, 'the expired mark is cut');
  await commit();
  t.equal(sm.retainedFrom, 4);
  t.same(sm.queueBounds('T', 0), { minOffset: 2, maxOffset: 4 }, 'the two messages before it are gone');
  t.same(sm.retentionMarks.map((m) => m.index), [6, 7]);
  service.check();
  t.equal(state.proposals.length, 3, 'nothing more: mark 6 has not expired');
});
