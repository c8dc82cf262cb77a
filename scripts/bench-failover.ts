// npm run bench:failover: the longest pause of acknowledged sends when a master fails. A local
// group of 3 (temp dir, 127.0.0.1) takes a steady load from producers (unkeyed sends, each loop
// awaiting its send); every few seconds the master gets SIGSTOP (or SIGKILL), and the pause is
// the longest gap between two acknowledgements around the fault. Runs alternate the idempotent
// producer (which re-sends a stalled send to the new master the moment it is elected) and one
// without it (which waits for its try's timeout), on the same group. Progress on stderr; one JSON
// line on stdout: {"signal","faults","idempotent":{"pausesMs","p50","max","failed"},"plain":{...}}
import { Producer } from '../src/client/index.ts';
import { LocalCluster, parseFlagsOrHelp, type CommandSpec } from '../src/cli/index.ts';

const SPEC: CommandSpec = {
  usage: 'npm run bench:failover -- [--faults N] [--signal SIGSTOP|SIGKILL] [--loops N]',
  summary:
    'Measures the longest pause of acknowledged sends after a master fails, for the idempotent\n' +
    'producer and for one without idempotence, alternating faults between the two on one local group of 3.',
  flags: [
    { name: 'faults', kind: 'int', help: 'faults per producer kind', default: 5, min: 1, max: 100 },
    { name: 'signal', kind: 'string', help: 'how the master fails', default: 'SIGSTOP', choices: ['SIGSTOP', 'SIGKILL'] },
    { name: 'loops', kind: 'int', help: 'concurrent send loops', default: 16, min: 1, max: 1024 },
  ],
};

const flags = parseFlagsOrHelp(SPEC, process.argv.slice(2));
if (flags === null) process.exit(0);
const faults = Number(flags.faults);
const signal = String(flags.signal) as 'SIGSTOP' | 'SIGKILL';
const loops = Number(flags.loops);
const log = (msg: string): void => void process.stderr.write(`${msg}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Kind {
  readonly name: 'idempotent' | 'plain';
  readonly pauses: number[];
  failed: number;
}

/** Runs `loops` send loops until `stop`; returns the ack times (ms, performance.now()). */
function load(producer: Producer, kind: Kind, stop: { done: boolean }): { acks: number[]; finished: Promise<void> } {
  const acks: number[] = [];
  const body = Buffer.alloc(256, 1);
  const loop = async () => {
    while (!stop.done) {
      try {
        await producer.send('failover', { body });
        acks.push(performance.now());
      } catch {
        kind.failed++;
      }
    }
  };
  return { acks, finished: Promise.all(Array.from({ length: loops }, loop)).then(() => undefined) };
}

function longestGap(acks: readonly number[], from: number, to: number): number {
  const window = acks.filter((t) => t >= from && t <= to).sort((a, b) => a - b);
  let gap = 0;
  let prev = from;
  for (const t of window) {
    gap = Math.max(gap, t - prev);
    prev = t;
  }
  return Math.max(gap, to - prev);
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const cluster = await LocalCluster.create({ nodes: 3 });
const kinds: Kind[] = [
  { name: 'idempotent', pauses: [], failed: 0 },
  { name: 'plain', pauses: [], failed: 0 },
];
try {
  await cluster.waitForMaster();
  for (let i = 0; i < faults * 2; i++) {
    const kind = kinds[i % 2]!;
    const producer = new Producer({ servers: cluster.servers, idempotence: kind.name === 'idempotent' });
    const stop = { done: false };
    const { acks, finished } = load(producer, kind, stop);
    await sleep(1500);
    const master = await cluster.waitForMaster();
    const t0 = performance.now();
    if (signal === 'SIGSTOP') cluster.signal(master.nodeId, 'SIGSTOP');
    else await cluster.kill(master.nodeId);
    await cluster.waitForMaster(10_000, master.nodeId);
    await sleep(2500);
    const pause = longestGap(acks, t0, performance.now() - 500);
    kind.pauses.push(Math.round(pause));
    log(`${kind.name} fault ${kind.pauses.length}: longest pause ${Math.round(pause)} ms (${acks.length} acks)`);
    stop.done = true;
    await finished;
    await producer.close();
    if (signal === 'SIGSTOP') cluster.signal(master.nodeId, 'SIGCONT');
    else cluster.start(master.nodeId);
    await sleep(1500);
  }
} finally {
  await cluster.destroy();
}
const summary = (k: Kind) => ({ pausesMs: k.pauses, p50: median(k.pauses), max: Math.max(...k.pauses), failed: k.failed });
console.log(JSON.stringify({ signal, faults, loops, idempotent: summary(kinds[0]!), plain: summary(kinds[1]!) }));
