// npm run bench:segment-reuse: would reusing the files of deleted segments speed up the write
// path? A SYNC_FLUSH replica at a low rate makes one durable O_DIRECT | O_DSYNC write per append,
// each into a 4 KiB block of its own. Into a new segment (sparse: ftruncate'd, the commitlog's
// preallocation) each such write also allocates the block, a journal commit on ext4; into a
// reused segment (its blocks written before) it does not. This times --writes such appends,
// one at a time, into each kind of file, alternating for --rounds rounds. One JSON line on stdout:
//   {"sparse":{"p50Us","p99Us","perSec"},"reused":{...},"writeKiB"}
// With --commitlog it times the real write path instead: a SYNC_FLUSH FileCommitLog whose retention
// (deleteBefore) removed --pool segments, recycled (recycledSegmentsMax --pool) or not (0), in
// alternating runs; the timed appends all go into segments made after the retention: recycled
// files, or new sparse ones. The same JSON line, with "recycled" for "reused".
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseFlagsOrHelp, type CommandSpec } from '../src/cli/index.ts';
import { DIRECT_ALIGN, DirectWriter, RECORD_HEADER_SIZE, alignedBuffer, openCommitLog, type LogRecord } from '../src/commitlog/index.ts';
import { median } from './bench/report.ts';

const SPEC: CommandSpec = {
  usage: 'npm run bench:segment-reuse -- [--commitlog] [--writes N] [--write-kib K] [--rounds R] [--dir DIR]',
  summary:
    'Times one-at-a-time durable O_DIRECT | O_DSYNC appends into a sparse new segment and into a\n' +
    'reused one (blocks written before), alternating rounds; medians of p50, p99 and appends/s.\n' +
    'With --commitlog: SYNC_FLUSH CommitLog appends into segments made after retention, with\n' +
    'the removed segments\' files recycled or not (alternating runs).',
  flags: [
    { name: 'writes', kind: 'int', help: 'appends per round and kind', default: 3000, min: 10, max: 1_000_000 },
    { name: 'write-kib', kind: 'int', help: 'KiB of records per append (rounded up to blocks)', default: 1, min: 1, max: 1024 },
    { name: 'rounds', kind: 'int', help: 'rounds per kind (alternating)', default: 5, min: 1, max: 100 },
    { name: 'dir', kind: 'string', help: 'where the files go (the disk under test)', default: os.tmpdir() },
    { name: 'commitlog', kind: 'bool', help: 'time the real CommitLog write path, recycled segment files or not' },
    { name: 'segment-mib', kind: 'int', help: '--commitlog: segment size (MiB)', default: 16, min: 1, max: 1024 },
    { name: 'pool', kind: 'int', help: '--commitlog: segments retention removes (and recycledSegmentsMax)', default: 4, min: 1, max: 64 },
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

/** Records of `size` bytes from `first` (one buffer shared: contents do not matter here). */
function recordsOf(first: number, count: number, data: Buffer): LogRecord[] {
  const out: LogRecord[] = [];
  for (let i = 0; i < count; i++) out.push({ index: first + i, term: 1, type: 0, data });
  return out;
}

/**
 * One run of the real write path: fill pool + 1 segments, retention removes all but the last
 * (their files recycled when `recycle`), a filler record ends the last one, then `writes` durable
 * appends, one at a time, each into segments made after the retention.
 */
async function commitLogRound(dir: string, recycle: boolean, writes: number, writeBytes: number, segmentBytes: number, pool: number): Promise<Figures & { segmentsRecycled: number }> {
  const log = await openCommitLog({ dir, segmentBytes, flushDiskType: 'SYNC_FLUSH', recycledSegmentsMax: recycle ? pool : 0 });
  try {
    const fill = Buffer.alloc(64 * 1024 - RECORD_HEADER_SIZE, 3);
    while (log.stats().segmentCount < pool + 1) await log.append(recordsOf(log.lastIndex() + 1, 16, fill));
    await log.deleteBefore(log.lastIndex());
    if (log.stats().recycledFiles !== (recycle ? pool : 0)) throw new Error(`retention left ${log.stats().recycledFiles} recycled files`);
    // The last segment ends with a filler record: the first timed append rolls.
    const used = log.stats().segmentBytes;
    const pad = (DIRECT_ALIGN - (used % DIRECT_ALIGN)) % DIRECT_ALIGN;
    const fillerBytes = segmentBytes - used - pad - RECORD_HEADER_SIZE;
    if (fillerBytes >= 0) await log.append(recordsOf(log.lastIndex() + 1, 1, Buffer.alloc(fillerBytes, 5)));
    const segmentsBefore = log.stats().segmentCount;
    const body = Buffer.alloc(writeBytes, 7);
    const us: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < writes; i++) {
      const start = performance.now();
      await log.append(recordsOf(log.lastIndex() + 1, 1, body));
      us.push((performance.now() - start) * 1000);
    }
    const seconds = (performance.now() - t0) / 1000;
    const s = log.stats();
    if (s.segmentCount - segmentsBefore > pool) throw new Error('the timed appends needed more segments than the pool holds');
    us.sort((a, b) => a - b);
    return {
      p50Us: Math.round(us[Math.floor(us.length / 2)]!),
      p99Us: Math.round(us[Math.floor(us.length * 0.99)]!),
      perSec: Math.round(writes / seconds),
      segmentsRecycled: s.segmentsRecycled,
    };
  } finally {
    await log.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function commitLogMain(flags: Record<string, unknown>, dir: string): Promise<void> {
  const writeBytes = Number(flags['write-kib']) * 1024;
  const segmentBytes = Number(flags['segment-mib']) * 1024 * 1024;
  const pool = Number(flags.pool);
  // Each append takes whole blocks of its own (SYNC_FLUSH starts every append at a block boundary).
  const perSegment = Math.floor(segmentBytes / (Math.ceil((writeBytes + RECORD_HEADER_SIZE) / DIRECT_ALIGN) * DIRECT_ALIGN));
  const writes = Math.min(Number(flags.writes), pool * perSegment);
  const results: Record<'sparse' | 'recycled', Figures[]> = { sparse: [], recycled: [] };
  for (let r = 1; r <= Number(flags.rounds); r++) {
    for (const kind of r % 2 === 1 ? (['sparse', 'recycled'] as const) : (['recycled', 'sparse'] as const)) {
      const f = await commitLogRound(path.join(dir, `store-${r}-${kind}`), kind === 'recycled', writes, writeBytes, segmentBytes, pool);
      process.stderr.write(`round ${r} ${kind}: ${JSON.stringify(f)}\n`);
      results[kind].push(f);
    }
  }
  process.stdout.write(`${JSON.stringify({ sparse: medianOf(results.sparse), recycled: medianOf(results.recycled), writeKiB: writeBytes / 1024, writes, path: 'commitlog' })}\n`);
}

function medianOf(fs: readonly Figures[]): Figures {
  return { p50Us: median(fs.map((f) => f.p50Us)), p99Us: median(fs.map((f) => f.p99Us)), perSec: median(fs.map((f) => f.perSec)) };
}

async function main(): Promise<number> {
  const flags = parseFlagsOrHelp(SPEC, process.argv.slice(2));
  if (flags === null) return 0;
  const dir = fs.mkdtempSync(path.join(String(flags.dir), 'raftmq-reuse-'));
  const writes = Number(flags.writes);
  const writeBytes = Number(flags['write-kib']) * 1024;
  if (flags.commitlog === true) {
    try {
      await commitLogMain(flags, dir);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    return 0;
  }
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
  process.stdout.write(`${JSON.stringify({ sparse: medianOf(results.sparse), reused: medianOf(results.reused), writeKiB: writeBytes / 1024 })}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`bench:segment-reuse: ${err.message}\n`);
    process.exit(1);
  },
);
