import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { breakdown, breakdownTable, readTraces } from '../../scripts/bench/latency-breakdown.ts';

/** Trace files of `count` sends one after another, each 10 ms apart, with fixed step times (us).
 *  Slave n1 acknowledges after `n1AckAfterUs` from its receipt, n2 after 500; `asyncAck` puts
 *  the slaves' acks before their flushes end (ASYNC_FLUSH). */
function writeTraces(dir: string, count: number, n1AckAfterUs: number, asyncAck = false): void {
  const lines: Record<string, string[]> = { 'client-1': [], 'n0-2': [], 'n1-3': [], 'n2-4': [] };
  const at = (file: string, event: string, ix: number, t: number): void => void lines[file].push(`${event} ${ix} ${t.toFixed(1)}`);
  for (let k = 0; k < count; k++) {
    const ix = 10 + k;
    const t0 = 1_000_000 + k * 10_000;
    at('client-1', 'client.send', -1, t0);
    at('n0-2', 'server.request', -1, t0 + 100);
    at('n0-2', 'replica.propose', ix, t0 + 120);
    at('n0-2', 'replica.sendAppend', ix, t0 + 125);
    at('n0-2', 'log.written', ix, t0 + 150);
    at('n0-2', 'log.flushStart', ix, t0 + 155);
    at('n0-2', 'log.flushEnd', ix, t0 + 455);
    for (const [file, ackAfter] of [['n1-3', n1AckAfterUs], ['n2-4', 500]] as const) {
      const recv = t0 + 225;
      at(file, 'replica.recvAppend', ix, recv);
      at(file, 'log.written', ix, recv + 40);
      at(file, 'log.flushStart', ix, recv + 45);
      at(file, 'log.flushEnd', ix, asyncAck ? recv + ackAfter + 100 : recv + ackAfter - 10);
      at(file, 'replica.sendAck', ix, recv + ackAfter);
    }
    const ackAt = t0 + 225 + Math.min(n1AckAfterUs, 500);
    at('n0-2', 'replica.recvAck', ix, ackAt + 90);
    at('n0-2', 'replica.apply', ix, ackAt + 120);
    at('n0-2', 'server.reply', -1, ackAt + 125);
    at('client-1', 'client.ack', -1, ackAt + 245);
  }
  for (const [name, ls] of Object.entries(lines)) fs.writeFileSync(path.join(dir, `${name}.trace`), `${ls.join('\n')}\n`);
}

function tempDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftmq-breakdown-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const p50 = (b: ReturnType<typeof breakdown>, step: string): number => {
  const s = b.steps.find((x) => x.step === step);
  if (s === undefined) throw new Error(`no step ${step}`);
  return s.p50Us;
};

t.test('steps of a SYNC_FLUSH send, through the slave that acknowledged first', async (t) => {
  const dir = tempDir(t);
  writeTraces(dir, 50, 300);
  const b = breakdown(readTraces(dir), 0.1);
  t.equal(b.master, 'n0');
  t.equal(b.messages, 45, 'the first tenth is skipped');
  t.equal(p50(b, 'client send -> master has the request'), 100);
  t.equal(p50(b, 'request -> proposed'), 20);
  t.equal(p50(b, 'proposed -> append handed to the transport'), 5);
  t.equal(p50(b, 'append: master -> slave'), 100);
  t.equal(p50(b, 'slave: append received -> written'), 40);
  t.equal(p50(b, 'slave: written -> flush started'), 5);
  t.equal(p50(b, 'slave: flush (fdatasync)'), 300 - 10 - 45, 'the faster slave (n1) is the one measured');
  t.equal(p50(b, 'slave: durable (or written) -> ack handed to the transport'), 10);
  t.equal(p50(b, 'ack: slave -> master'), 90);
  t.equal(p50(b, 'master: ack received -> applied'), 30);
  t.equal(p50(b, 'master: applied -> reply queued'), 5);
  t.equal(p50(b, 'reply: master -> client ack'), 120);
  t.equal(p50(b, 'total (client send -> ack)'), 225 + 300 + 245);
  t.equal(p50(b, '(master: proposed -> its own write)'), 30);
  t.equal(p50(b, '(master: its own flush)'), 300);
  t.match(breakdownTable(b), /per-message steps of 45 sends \(master n0\)/);

  const other = tempDir(t);
  writeTraces(other, 50, 800);
  t.equal(p50(breakdown(readTraces(other), 0.1), 'slave: flush (fdatasync)'), 500 - 10 - 45, 'now n2 acknowledges first');
});

t.test('an acknowledgement that leaves before the flush (ASYNC_FLUSH) has no flush steps', async (t) => {
  const dir = tempDir(t);
  writeTraces(dir, 20, 300, true);
  const b = breakdown(readTraces(dir), 0);
  t.equal(b.messages, 20);
  t.equal(b.steps.find((s) => s.step === 'slave: flush (fdatasync)')?.count, 0);
  t.ok(Number.isNaN(p50(b, 'slave: written -> flush started')));
  t.equal(p50(b, 'slave: durable (or written) -> ack handed to the transport'), 300 - 40);
});

t.test('traces without a client or without proposals are refused', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'n0-1.trace'), 'replica.propose 1 5.0\n');
  t.throws(() => breakdown(readTraces(dir)), /no client trace/);
  fs.writeFileSync(path.join(dir, 'client-2.trace'), 'client.send -1 1.0\n');
  fs.writeFileSync(path.join(dir, 'n0-1.trace'), 'replica.apply 1 5.0\n');
  t.throws(() => breakdown(readTraces(dir)), /no replica proposed anything/);
});
