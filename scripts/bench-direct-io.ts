// npm run bench:direct-io: what a SYNC_FLUSH replica's data writes cost through the page cache
// against O_DIRECT | O_DSYNC (the commitlog's directIo), on this machine, today. --procs processes
// write at once, as the replicas of a local group do, each --mb MiB in writes of --write-kib KiB:
//   buffered: fs.writeSync into a sparse (preallocated) file, then fdatasync on the thread pool
//             (the commitlog's page-cache path);
//   direct:   DirectWriter.writeAt (src/commitlog/direct-writer.ts): copy into an aligned staging
//             buffer, one O_DIRECT | O_DSYNC write on the thread pool.
// The two alternate for --rounds rounds. Progress on stderr, one JSON line on stdout with the
// medians over the rounds: CPU-seconds per GB written (utime + stime of the writers, all
// together), aggregate MB/s, and the mean time of one write-and-make-durable round.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseFlagsOrHelp, UsageError, type CommandSpec, LOADER_FLAGS } from '../src/cli/index.ts';
import { DIRECT_ALIGN, DirectWriter, alignedBuffer } from '../src/commitlog/index.ts';
import { freeDiskBytes } from './bench/proc-stats.ts';
import { median } from './bench/report.ts';

const fdatasync = promisify(fs.fdatasync);
type Mode = 'buffered' | 'direct';

const SPEC: CommandSpec = {
  usage: 'npm run bench:direct-io -- [--procs P] [--mb MB] [--write-kib K] [--rounds R] [--dir DIR]',
  summary:
    'Page-cache writes + fdatasync against O_DIRECT | O_DSYNC writes, P processes at once, alternating\n' +
    'rounds; medians of CPU-s per GB, MB/s and the time of one durable write. Files go to a fresh\n' +
    'directory under --dir and are deleted after each round.',
  flags: [
    { name: 'procs', kind: 'int', help: 'processes writing at once', default: 3, min: 1, max: 16 },
    { name: 'mb', kind: 'int', help: 'MiB each process writes per round', default: 256, min: 1, max: 65536 },
    { name: 'write-kib', kind: 'int', help: 'KiB per write (a multiple of 4)', default: 148, min: 4, max: 1020 },
    { name: 'rounds', kind: 'int', help: 'rounds per mode (alternating)', default: 3, min: 1, max: 50 },
    { name: 'dir', kind: 'string', help: 'where the files go', default: os.tmpdir() },
  ],
};

interface WorkerResult {
  bytes: number;
  cpuSec: number;
  wallSec: number;
  writes: number;
}

async function worker(mode: Mode, file: string, totalBytes: number, writeBytes: number): Promise<WorkerResult> {
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
  fs.ftruncateSync(fd, totalBytes + DIRECT_ALIGN); // sparse, as the commitlog preallocates
  const src = Buffer.alloc(writeBytes, 0x5a);
  const direct = mode === 'direct' ? DirectWriter.open(file, fd, alignedBuffer(writeBytes + DIRECT_ALIGN)) : null;
  if (mode === 'direct' && direct === null) throw new Error('the filesystem refuses O_DIRECT');
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let pos = 0;
  let writes = 0;
  while (pos < totalBytes) {
    if (direct !== null) {
      pos += (await direct.writeAt([src], pos)).bytes;
    } else {
      pos += fs.writeSync(fd, src, 0, src.length, pos);
      await fdatasync(fd);
    }
    writes++;
  }
  const wallSec = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  direct?.close();
  fs.closeSync(fd);
  return { bytes: pos, cpuSec: (c.user + c.system) / 1e6, wallSec, writes };
}

function runWorker(mode: Mode, file: string, mb: number, writeKib: number): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...LOADER_FLAGS, process.argv[1], '--worker', mode, file, String(mb), String(writeKib)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`${mode} writer exited with code ${code}`));
      else resolve(JSON.parse(out) as WorkerResult);
    });
  });
}

async function round(mode: Mode, dir: string, procs: number, mb: number, writeKib: number): Promise<{ cpuSecPerGB: number; mbPerSec: number; roundUs: number }> {
  const roundDir = fs.mkdtempSync(path.join(dir, `raftmq-direct-io-${mode}-`));
  try {
    const results = await Promise.all(Array.from({ length: procs }, (_, k) => runWorker(mode, path.join(roundDir, `w${k}`), mb, writeKib)));
    const bytes = results.reduce((s, r) => s + r.bytes, 0);
    const cpu = results.reduce((s, r) => s + r.cpuSec, 0);
    const wall = Math.max(...results.map((r) => r.wallSec));
    const roundUs = median(results.map((r) => (r.wallSec / r.writes) * 1e6));
    return { cpuSecPerGB: cpu / (bytes / 1e9), mbPerSec: bytes / 1e6 / wall, roundUs };
  } finally {
    fs.rmSync(roundDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--worker') {
    const [mode, file, mb, writeKib] = argv.slice(1);
    const r = await worker(mode as Mode, file, Number(mb) * 1024 * 1024, Number(writeKib) * 1024);
    process.stdout.write(JSON.stringify(r));
    return;
  }
  let flags;
  try {
    flags = parseFlagsOrHelp(SPEC, argv);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`bench:direct-io: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  if (flags === null) return;
  const procs = flags.procs as number;
  const mb = flags.mb as number;
  const writeKib = flags['write-kib'] as number;
  const rounds = flags.rounds as number;
  const dir = flags.dir as string;
  if (writeKib % 4 !== 0) {
    console.error('bench:direct-io: --write-kib must be a multiple of 4');
    process.exit(2);
  }
  const need = procs * mb * 1024 * 1024 * 1.1;
  const free = freeDiskBytes(dir);
  if (free < need) {
    console.error(`bench:direct-io: ${dir} has ${(free / 2 ** 30).toFixed(1)} GiB free; a round needs ${(need / 2 ** 30).toFixed(1)}`);
    process.exit(2);
  }
  const by: Record<Mode, { cpuSecPerGB: number; mbPerSec: number; roundUs: number }[]> = { buffered: [], direct: [] };
  for (let r = 0; r < rounds; r++) {
    const order: Mode[] = r % 2 === 0 ? ['buffered', 'direct'] : ['direct', 'buffered'];
    for (const mode of order) {
      const res = await round(mode, dir, procs, mb, writeKib);
      by[mode].push(res);
      console.error(
        `bench:direct-io: round ${r + 1}/${rounds} ${mode.padEnd(8)} ${res.cpuSecPerGB.toFixed(2)} CPU-s/GB, ${res.mbPerSec.toFixed(0)} MB/s, ${res.roundUs.toFixed(0)} us per durable write`,
      );
    }
  }
  const med = (mode: Mode, k: 'cpuSecPerGB' | 'mbPerSec' | 'roundUs'): number => Number(median(by[mode].map((x) => x[k])).toFixed(k === 'cpuSecPerGB' ? 3 : 0));
  console.log(
    JSON.stringify({
      procs,
      mbPerProc: mb,
      writeKib,
      rounds,
      bufferedCpuSecPerGB: med('buffered', 'cpuSecPerGB'),
      directCpuSecPerGB: med('direct', 'cpuSecPerGB'),
      bufferedMBps: med('buffered', 'mbPerSec'),
      directMBps: med('direct', 'mbPerSec'),
      bufferedWriteUs: med('buffered', 'roundUs'),
      directWriteUs: med('direct', 'roundUs'),
    }),
  );
}

void main();
