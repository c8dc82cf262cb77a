// CatchUpThrottle on a fake clock: appends far behind the end are paced while the log grows,
// in order, with every other message passing at once; with no writes the backlog goes at once.
import t from 'tap';
import { CatchUpThrottle, type CatchUpThrottleOptions } from '../../src/broker/index.ts';
import { EntryType, MessageType, type Message, type NodeId } from '../../src/raft/index.ts';

const EMPTY_CONTEXT = new Uint8Array(0);

const KIB = 1024;

function message(type: MessageType, index: number, entryCount: number, entryBytes: number): Message {
  const entries = Array.from({ length: entryCount }, (_, i) => ({ index: index + 1 + i, term: 1, type: EntryType.Normal, data: new Uint8Array(entryBytes) }));
  return { type, from: 'n0', to: 'n1', term: 1, index, logTerm: 1, commit: 0, entries, reject: false, rejectHint: 0, rejectTerm: 0, transfer: false, recovering: false, context: EMPTY_CONTEXT, conf: null };
}

/** A log of `last` entries of `entryBytes` each, a fake clock and a manual timer. */
function harness(over: Partial<CatchUpThrottleOptions> = {}, entryBytes = 100 * KIB) {
  const state = { now: 0, last: 10_000 };
  const sent: { to: NodeId; messages: Message[] }[] = [];
  const timers: { at: number; fn: () => void; cancelled: boolean }[] = [];
  const dropped: string[] = [];
  const throttle = new CatchUpThrottle({
    sender: { send: (to, messages) => sent.push({ to, messages }) },
    throttlePointBytes: 1024 * KIB,
    quotaBytesPerSecond: 300 * KIB,
    queueBytesMax: 2048 * KIB,
    bytesAfter: (index) => Math.max(0, state.last - index) * entryBytes,
    lastIndex: () => state.last,
    onDropped: (peer, reason) => dropped.push(`${peer}: ${reason}`),
    now: () => state.now,
    schedule: (fn, ms) => {
      const timer = { at: state.now + ms, fn, cancelled: false };
      timers.push(timer);
      return () => {
        timer.cancelled = true;
      };
    },
    ...over,
  });
  /** Moves the clock to `ms`, running the timers due by then. */
  const advance = (ms: number): void => {
    state.now = ms;
    for (let due = timers.find((x) => !x.cancelled && x.at <= ms); due !== undefined; due = timers.find((x) => !x.cancelled && x.at <= ms)) {
      due.cancelled = true;
      due.fn();
    }
  };
  const sentIndexes = (): number[] => sent.flatMap((s) => s.messages.filter((m) => m.type === MessageType.Append).map((m) => m.index));
  return { state, sent, dropped, throttle, advance, sentIndexes, pendingTimers: () => timers.filter((x) => !x.cancelled).length };
}

t.test('appends near the end of the log, and every other message, pass at once', async (t) => {
  const h = harness();
  h.throttle.send('n1', [message(MessageType.Append, 9_995, 5, 100 * KIB), message(MessageType.Heartbeat, 0, 0, 0)]);
  t.equal(h.sent.length, 1);
  t.equal(h.sent[0].messages.length, 2);
  t.equal(h.throttle.pacedBytes, 0);
  t.equal(h.pendingTimers(), 0);
});

t.test('far behind while the log grows: a quota per second, in order, heartbeats not held back', async (t) => {
  const h = harness();
  // 10 appends of 100 KiB, from 5,000 entries (500 MB) behind: the quota (300 KiB/s) lets three go.
  const appends = Array.from({ length: 10 }, (_, i) => message(MessageType.Append, 5_000 + i, 1, 100 * KIB));
  h.throttle.send('n1', appends);
  t.same(h.sentIndexes(), [5000, 5001, 5002], 'the first second takes the quota');
  t.same(h.throttle.queued(), { followers: 1, bytes: 7 * 100 * KIB });
  h.throttle.send('n1', [message(MessageType.Heartbeat, 0, 0, 0), message(MessageType.Append, 9_999, 1, 100 * KIB)]);
  t.equal(h.sent.at(-1)!.messages[0].type, MessageType.Heartbeat, 'a heartbeat passes the queue');
  t.equal(h.sent.at(-1)!.messages.length, 1, 'an append behind queued ones waits its turn, even one near the end');
  h.state.last += 1; // clients keep writing
  h.advance(500);
  t.same(h.sentIndexes(), [5000, 5001, 5002], 'nothing more within the second');
  h.state.last += 1;
  h.advance(1000);
  t.same(h.sentIndexes(), [5000, 5001, 5002, 5003, 5004, 5005], 'the next second sends the next three, in order');
  h.state.last += 1;
  h.advance(2000);
  h.state.last += 1;
  h.advance(3000);
  t.same(h.sentIndexes(), [5000, 5001, 5002, 5003, 5004, 5005, 5006, 5007, 5008, 5009, 9999], 'the queue drains in order; the near append is not charged');
  t.equal(h.throttle.pacedBytes, 10 * 100 * KIB);
  t.same(h.throttle.queued(), { followers: 0, bytes: 0 });
  t.equal(h.pendingTimers(), 0, 'no timer once the queue is empty');
});

t.test('with no new writes for a second, the backlog goes at full speed', async (t) => {
  const h = harness();
  h.throttle.send('n1', Array.from({ length: 10 }, (_, i) => message(MessageType.Append, 5_000 + i, 1, 100 * KIB)));
  t.equal(h.sentIndexes().length, 3);
  h.advance(1000); // the log has not grown since the first send
  t.equal(h.sentIndexes().length, 10, 'the rest at the next drain, unpaced');
  h.throttle.send('n1', [message(MessageType.Append, 5_010, 1, 100 * KIB)]);
  t.equal(h.sentIndexes().length, 11, 'and what follows passes at once');
});

t.test('the queue is bounded: an append beyond it is dropped and reported', async (t) => {
  const h = harness({ queueBytesMax: 250 * KIB });
  h.throttle.send('n1', Array.from({ length: 7 }, (_, i) => message(MessageType.Append, 5_000 + i, 1, 100 * KIB)));
  t.equal(h.sentIndexes().length, 3);
  t.equal(h.throttle.queued().bytes, 200 * KIB);
  t.equal(h.throttle.dropped, 2);
  t.match(h.dropped[0], /^n1: catch-up queue full/);
});

t.test('followers are paced apart; 0 turns pacing off; close cancels the drain', async (t) => {
  const h = harness();
  h.throttle.send('n1', Array.from({ length: 5 }, (_, i) => message(MessageType.Append, 5_000 + i, 1, 100 * KIB)));
  h.throttle.send('n2', Array.from({ length: 5 }, (_, i) => message(MessageType.Append, 6_000 + i, 1, 100 * KIB)));
  t.same(h.sent.map((s) => [s.to, s.messages.length]), [['n1', 3], ['n2', 3]]);
  t.same(h.throttle.queued(), { followers: 2, bytes: 4 * 100 * KIB });
  h.throttle.close();
  h.advance(5000);
  t.equal(h.sent.length, 2, 'nothing leaves after close');

  const off = harness({ throttlePointBytes: 0 });
  off.throttle.send('n1', Array.from({ length: 10 }, (_, i) => message(MessageType.Append, 5_000 + i, 1, 100 * KIB)));
  t.equal(off.sentIndexes().length, 10);
});
