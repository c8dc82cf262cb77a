// npm run bench:client: what raftmq's Producer itself costs, without a broker group behind it.
// A stand-in broker in a child process (scripts/bench/echo-broker.ts, 127.0.0.1, stopped by PID)
// answers every send at once; this process keeps --inflight sends in flight, each awaiting its own
// ack, as bench's load processes do. Per run: sends per second, the client's CPU per 100k sends
// (utime + stime of this process), and its garbage-collector pauses (each one holds back every
// send in flight). One JSON line on stdout with the medians over --runs.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Producer } from '../src/client/index.ts';
import { parseFlagsOrHelp, UsageError, type CommandSpec, LOADER_FLAGS } from '../src/cli/index.ts';
import { GcPauses } from './bench/gc-pauses.ts';
import { median } from './bench/report.ts';

const SPEC: CommandSpec = {
  usage: 'npm run bench:client -- [--inflight K] [--size BYTES] [--duration S] [--runs R]',
  summary:
    'The Producer against a stand-in broker that answers at once: sends/s, client CPU-s per 100k sends,\n' +
    'and the share of time in GC pauses (scavenges and full collections counted apart). Progress on\n' +
    'stderr, one JSON line with the medians on stdout. The producer is idempotent (the default);\n' +
    'BENCH_IDEMPOTENCE=off in the environment measures one without idempotence.',
  flags: [
    { name: 'inflight', kind: 'int', help: 'sends in flight, each awaiting its ack', default: 256, min: 1, max: 65536 },
    { name: 'size', kind: 'int', help: 'message body bytes', default: 1024, min: 1, max: 4 * 1024 * 1024 },
    { name: 'duration', kind: 'int', help: 'measured seconds per run (after 2 s of warmup)', default: 5, min: 1, max: 3600 },
    { name: 'runs', kind: 'int', help: 'runs (each with a fresh producer and stand-in broker)', default: 3, min: 1, max: 50 },
  ],
};

const ECHO = path.join(path.dirname(fileURLToPath(import.meta.url)), 'bench', 'echo-broker.ts');
const WARMUP_MS = 2000;
const say = (line: string): void => void process.stderr.write(`${line}\n`);

interface RunFigures {
  readonly sendsPerSec: number;
  readonly clientCpuSecPer100k: number;
  readonly gcPausePercent: number;
  readonly scavengesPerSec: number;
  readonly fullGcsPerSec: number;
}

async function runOnce(inflight: number, size: number, durationSec: number, label: string): Promise<RunFigures> {
  const child = spawn(process.execPath, [...LOADER_FLAGS, ECHO], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
      child.once('exit', (code) => reject(new Error(`the stand-in broker exited (${code})`)));
    });
    const producer = new Producer({ servers: [`127.0.0.1:${port}`], idempotence: process.env.BENCH_IDEMPOTENCE !== 'off' });
    const message = { body: Buffer.alloc(size, 0x61) };
    let measuring = false;
    let running = true;
    let sent = 0;
    const gc = new GcPauses();
    await producer.send('bench', message); // the route is cached from here on
    const loops = Array.from({ length: inflight }, async () => {
      while (running) {
        await producer.send('bench', message);
        if (measuring) sent++;
      }
    });
    await new Promise((r) => setTimeout(r, WARMUP_MS));
    measuring = true;
    gc.start();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let s = 1; s <= durationSec; s++) {
      const before = sent;
      await new Promise((r) => setTimeout(r, t0 + s * 1000 - performance.now()));
      say(`${label} ${s}/${durationSec} s: ${sent - before} sends`);
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    measuring = false;
    await gc.stop();
    const total = sent;
    running = false;
    await Promise.allSettled(loops);
    gc.close();
    await producer.close();
    return {
      sendsPerSec: Math.round(total / seconds),
      clientCpuSecPer100k: Number((((cpu.user + cpu.system) / 1e6 / total) * 100_000).toFixed(3)),
      gcPausePercent: Number(((gc.pauseMs / (seconds * 1000)) * 100).toFixed(2)),
      scavengesPerSec: Number((gc.scavenges / seconds).toFixed(1)),
      fullGcsPerSec: Number((gc.fullGcs / seconds).toFixed(2)),
    };
  } finally {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
  }
}

async function main(): Promise<number> {
  const flags = parseFlagsOrHelp(SPEC, process.argv.slice(2));
  if (flags === null) return 0;
  const [inflight, size, duration, runs] = [Number(flags.inflight), Number(flags.size), Number(flags.duration), Number(flags.runs)];
  const all: RunFigures[] = [];
  for (let r = 1; r <= runs; r++) {
    const f = await runOnce(inflight, size, duration, `run ${r}/${runs}`);
    say(`run ${r}/${runs}: ${JSON.stringify(f)}`);
    all.push(f);
  }
  const med = (k: keyof RunFigures): number => median(all.map((f) => f[k]));
  console.log(JSON.stringify({ inflight, size, sendsPerSec: med('sendsPerSec'), clientCpuSecPer100k: med('clientCpuSecPer100k'), gcPausePercent: med('gcPausePercent'), scavengesPerSec: med('scavengesPerSec'), fullGcsPerSec: med('fullGcsPerSec') }));
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    say(`bench:client: ${err instanceof UsageError ? '' : 'failed: '}${(err as Error).message}`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
