// npm run bench:segment-reuse: would reusing the files of deleted segments speed up the write
// path? A SYNC_FLUSH replica at a low rate makes one durable O_DIRECT | O_DSYNC write per append,
// each into a 4 KiB block of its own. Into a new segment (sparse: ftruncate'd, the commitlog's
// preallocation) each such write also allocates the block, a journal commit on ext4; into a
// reused segment (its blocks written before) it does not. This times --writes such appends,
// one at a time, into each kind of file, alternating for --rounds rounds. One JSON line on stdout:
//   {"sparse":{"p50Us","p99Us","perSec"},"reused":{...},"writeKiB"}
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseFlagsOrHelp, type CommandSpec } from '../src/cli/index.ts';
import { DIRECT_ALIGN, DirectWriter, alignedBuffer } from '../src/commitlog/index.ts';
import { median } from './bench/report.ts';

const SPEC: CommandSpec = {
  usage: 'npm run bench:segment-reuse -- [--writes N] [--write-kib K] [--rounds R] [--dir DIR]',
  summary:
    'Times one-at-a-time durable O_DIRECT | O_DSYNC appends into a sparse new segment and into a\n' +
    'reused one (blocks written before), alternating rounds; medians of p50, p99 and appends/s.',
  flags: [
    { name: 'writes', kind: 'int', help: 'appends per round and kind', default: 3000, min: 10, max: 1_000_000 },
    { name: 'write-kib', kind: 'int', help: 'KiB of records per append (rounded up to blocks)', default: 1, min: 1, max: 1024 },
    { name: 'rounds', kind: 'int', help: 'rounds per kind (alternating)', default: 5, min: 1, max: 100 },
    { name: 'dir', kind: 'string', help: 'where the files go (the disk under test)', default: os.tmpdir() },
  ],
};

interface Figures {
  readonly p50Us: number;
  readonly p99Us: number;
  readonly perSec: number;
}

async function round(file: string, reused: boolean, writes: number, writeBytes: number): Promise<Figures> {
  const stride = Math.ceil(writeBytes / DIRECT_ALIGN) * DIRECT_ALIGN;
  const size = stride * writes;
  const fd = fs.openSync(file, 'w+');
  try {
    if (reused) {
      // A segment written before: every block allocated and written (then deleted and renamed).
      const zeros = Buffer.alloc(1024 * 1024);
      for (let off = 0; off < size; off += zeros.length) fs.writeSync(fd, zeros, 0, Math.min(zeros.length, size - off), off);
      fs.fdatasyncSync(fd);
    } else {
      fs.ftruncateSync(fd, size);
      fs.fdatasyncSync(fd);
    }
    const writer = DirectWriter.open(file, fd, alignedBuffer(stride));
    if (writer === null) throw new Error(`${file}: the filesystem refuses O_DIRECT`);
    const body = Buffer.alloc(writeBytes, 7);
    const us: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < writes; i++) {
      const start = performance.now();
      await writer.writeAt([body], i * stride);
      us.push((performance.now() - start) * 1000);
    }
    const seconds = (performance.now() - t0) / 1000;
    writer.close();
    us.sort((a, b) => a - b);
    return { p50Us: Math.round(us[Math.floor(us.length / 2)]!), p99Us: Math.round(us[Math.floor(us.length * 0.99)]!), perSec: Math.round(writes / seconds) };
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
}

async function main(): Promise<number> {
  const flags = parseFlagsOrHelp(SPEC, process.argv.slice(2));
  if (flags === null) return 0;
  const dir = fs.mkdtempSync(path.join(String(flags.dir), 'raftmq-reuse-'));
  const writes = Number(flags.writes);
  const writeBytes = Number(flags['write-kib']) * 1024;
  const results: Record<'sparse' | 'reused', Figures[]> = { sparse: [], reused: [] };
  try {
    for (let r = 1; r <= Number(flags.rounds); r++) {
      for (const kind of r % 2 === 1 ? (['sparse', 'reused'] as const) : (['reused', 'sparse'] as const)) {
        const f = await round(path.join(dir, `segment-${kind}`), kind === 'reused', writes, writeBytes);
        process.stderr.write(`round ${r} ${kind}: ${JSON.stringify(f)}\n`);
        results[kind].push(f);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const med = (fs: Figures[]): Figures => ({ p50Us: median(fs.map((f) => f.p50Us)), p99Us: median(fs.map((f) => f.p99Us)), perSec: median(fs.map((f) => f.perSec)) });
  process.stdout.write(`${JSON.stringify({ sparse: med(results.sparse), reused: med(results.reused), writeKiB: writeBytes / 1024 })}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`bench:segment-reuse: ${err.message}\n`);
    process.exit(1);
  },
);
