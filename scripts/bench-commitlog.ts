// Commitlog throughput for 1 KiB entries. Several runs; medians. Progress on stderr, one JSON line
// on stdout:
//   {"asyncAppendMBps","syncAppendMBps","syncAppendsPerSec","fsyncsPerSec","readMBps",
//    "rawSeqWriteMBps", then extra: "asyncPipeline","asyncAppendSerialMBps","asyncBurstMBps",
//    "rawBurstMBps","syncSerialAppendsPerSec","syncSerialP50Us","syncSerialP99Us"}
// MB = MiB (2^20 bytes) of entry bodies, in every figure.
//
// What each figure measures, and why:
//  - asyncAppendMBps / rawSeqWriteMBps (the headline pair, "sustained"): SUSTAINED_MB (default
//    6 GiB) of entries, far more than the kernel lets sit dirty in the page cache
//    (vm.dirty_background_ratio 10% / vm.dirty_ratio 20% of available memory: ~2.2 / ~4.4 GiB on
//    this 24 GB machine; printed at start), so the writer is throttled to what the disk takes
//    and the figure is the disk-bound sequential rate. Both are timed from the first write until the data is durable:
//    the final fdatasync (raw) / flush() (log) is inside the timed region, so neither is billed
//    or excused for dirty pages left behind.
//      raw: a plain fs.writeSync loop into a fresh file of the exact record bytes the log writes
//        (48-byte header + 1024-byte body, encoded once by the log's own encodeRecord), in the
//        same write sizes (BATCH records = 137 KB per write, what the log's pump writes per
//        turn for one awaited batch), then one fdatasync. No CRC, no index.
//      async (asyncAppendMBps): ASYNC_FLUSH appends of BATCH records from PIPELINE (default 8,
//        printed as "asyncPipeline") concurrent appenders, each awaiting its own append before
//        taking the next batch (so up to PIPELINE appends are in flight, as the replica driver
//        keeps up to writesInFlightMax = 32), then flush(). The log computes one zlib.crc32 per
//        body (a format requirement, ~3.6 GB/s on this machine for 1 KiB bodies; for a batch
//        of >= 64 KiB with unwritten work ahead of it on the CRC worker thread) and encodes,
//        writes the segment in writes of up to 256 KiB (what is pending when the pump runs), and
//        32 index bytes per entry to a second file (3% more bytes than raw); it fdatasyncs every
//        flushLeastBytes (4 MiB) on its own and waits for a segment to be durable before the next
//        one (default 1 GiB segments) is created.
//      asyncAppendSerialMBps (extra): the same with one appender that awaits every append before
//        the next (one 137 KB write per append).
//    Raw and async alternate (raw first in odd runs, async first in even ones; the serial log run
//    comes last), each into a fresh
//    directory that is deleted afterwards; before every timed phase the previous file is gone,
//    `sync` has run and /proc/meminfo Dirty + Writeback is below SETTLE_DIRTY_MB, so no phase
//    pays for another's writeback. Free disk is checked first (fs.statfsSync): SUSTAINED_MB is
//    scaled down, with a note on stderr, to leave at least 10 GiB free.
//  - asyncBurstMBps / rawBurstMBps (extra, "burst"): the same two loops over ASYNC_MB (default
//    256 MiB; the log with PIPELINE appenders), with no final flush. 256 MiB stays far below the
//    dirty thresholds, so none of it reaches the disk while it is timed: raw measures the copy
//    into the page cache (typically 2.5-4 GB/s); the log pays the body CRCs (about as much as
//    that copy; on the CRC worker for batches queued behind others) and its bookkeeping. The
//    rate a short burst sees, not what the disk takes.
//  - readMBps: sequential read() of the burst run's log from a fresh open (empty record cache;
//    the files are in the page cache).
//  - SYNC_FLUSH phases below run with the log's defaults, so since 2026-12-04 with direct writes
//    (O_DIRECT | O_DSYNC, directIo): each write is durable when it returns and fsyncsPerSec counts
//    only the lazy index/checkpoint syncs; DIRECT_IO=0 measures the page-cache path instead.
//  - syncAppendMBps / syncAppendsPerSec / fsyncsPerSec: SYNC_FLUSH, 256 concurrent
//    single-record appenders (group commit), SYNC_ENTRIES entries; fsyncsPerSec counts every
//    fdatasync the log made (segment rounds plus the lazy index/checkpoint syncs). With 256
//    appenders the main thread (not the disk) bounds this on 2 cores: it varies with the load.
//  - syncReadMBps (extra): sequential read() of the sync run's log from a fresh open: after direct
//    writes the data is not in the page cache (a consumer far behind reads it so); with
//    DIRECT_IO=0 it mostly is.
//  - syncSerialAppendsPerSec / syncSerialP50Us / syncSerialP99Us (extra): SYNC_FLUSH, one
//    appender awaiting each single-record append, SYNC_SERIAL_ENTRIES entries: the latency of
//    one durable write (direct: one O_DSYNC write; DIRECT_IO=0: a write + an fdatasync round),
//    what a lone SYNC_FLUSH send waits for on each replica.
//
//   npm run bench:commitlog
//   RUNS=5 SUSTAINED_MB=8192 ASYNC_MB=512 SYNC_ENTRIES=300000 SYNC_SERIAL_ENTRIES=20000 PIPELINE=8
//   SETTLE_DIRTY_MB=64 to change sizes; PHASES=sustained,burst,sync,syncSerial (default all) to
//   run only some phases (the JSON then has only their keys).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { openCommitLog, INDEX_ENTRY_SIZE, RECORD_HEADER_SIZE, encodeRecord, type LogRecord } from '../src/commitlog/index.ts';
import { delay } from '../src/net/index.ts';
import { median } from './bench/report.ts';

/** SYNC_FLUSH phases: the log's direct writes (default) or the page cache (DIRECT_IO=0). */
const DIRECT_IO = process.env.DIRECT_IO !== '0';
const RUNS = Number(process.env.RUNS ?? 3);
const ENTRY_BYTES = 1024;
const BATCH = Number(process.env.BATCH ?? 128);
const ASYNC_MB = Number(process.env.ASYNC_MB ?? 256);
const SUSTAINED_MB_WANTED = Number(process.env.SUSTAINED_MB ?? 6144);
const SYNC_ENTRIES = Number(process.env.SYNC_ENTRIES ?? 200_000);
const SYNC_SERIAL_ENTRIES = Number(process.env.SYNC_SERIAL_ENTRIES ?? 20_000);
const PIPELINE = Number(process.env.PIPELINE ?? 8);
const PHASES = new Set((process.env.PHASES ?? 'sustained,burst,sync,syncSerial').split(',').map((x) => x.trim()));
for (const p of PHASES) if (!['sustained', 'burst', 'sync', 'syncSerial'].includes(p)) throw new Error(`PHASES: unknown phase ${p}`);
if (!Number.isSafeInteger(PIPELINE) || PIPELINE < 1 || PIPELINE > 1024) throw new Error(`PIPELINE must be in [1, 1024], not ${PIPELINE}`);
const SETTLE_DIRTY_MB = Number(process.env.SETTLE_DIRTY_MB ?? 64);
const SETTLE_TIMEOUT_MS = 60_000;
const APPENDERS = 256;
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const FREE_DISK_KEEP_BYTES = 10 * GiB;
const RECORD_BYTES = RECORD_HEADER_SIZE + ENTRY_BYTES;

const payload = Buffer.alloc(ENTRY_BYTES, 0x61);
const say = (msg: string): void => void process.stderr.write(`${msg}\n`);

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

const pct = (a: number, b: number): number => round((100 * a) / b);
const entriesFor = (mb: number): number => Math.floor((mb * MiB) / ENTRY_BYTES);
const bodyMBps = (entries: number, secs: number): number => (entries * ENTRY_BYTES) / MiB / secs;

/** MB/s of zlib.crc32 over ENTRY_BYTES bodies, one call each, as the append path must do (printed
 *  next to the burst figures: CRC and write() copy, one after the other, bound the log at
 *  crc/(raw+crc) of raw). */
function crcOnlyMBps(entries: number): number {
  const t0 = performance.now();
  for (let i = 0; i < entries; i++) crc32(payload);
  return bodyMBps(entries, (performance.now() - t0) / 1000);
}

function meminfoKiB(key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync('/proc/meminfo', 'utf8'));
  return m === null ? 0 : Number(m[1]);
}

function readProcNumber(file: string): number {
  try {
    return Number(fs.readFileSync(file, 'utf8').trim());
  } catch {
    return 0;
  }
}

/** Page-cache bytes not yet on disk (dirty or being written back), system-wide, in MiB. */
const unwrittenMiB = (): number => (meminfoKiB('Dirty') + meminfoKiB('Writeback')) / 1024;

/**
 * Same starting conditions for every timed phase: the previous phase's files are already deleted;
 * `sync` writes back what is left, then wait until Dirty + Writeback is below SETTLE_DIRTY_MB
 * (other processes on the machine may keep it above that: then go on after SETTLE_TIMEOUT_MS, said
 * on stderr).
 */
async function settle(label: string): Promise<void> {
  const t0 = performance.now();
  execFileSync('sync');
  while (unwrittenMiB() > SETTLE_DIRTY_MB) {
    if (performance.now() - t0 > SETTLE_TIMEOUT_MS) {
      say(`  [${label}] writeback did not settle in ${SETTLE_TIMEOUT_MS / 1000} s: ${round(unwrittenMiB())} MiB dirty/writeback (other processes?); going on`);
      return;
    }
    await delay(100);
    execFileSync('sync');
  }
}

/** `BATCH` records as the log encodes them (real headers and body CRCs, positions from 0): what
 *  the raw loops write, over and over. */
function encodedChunk(): Buffer {
  const buf = Buffer.alloc(BATCH * RECORD_BYTES);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  for (let k = 0; k < BATCH; k++) off += encodeRecord(buf, dv, off, k + 1, 1, 0, payload, off);
  return buf;
}
const rawChunk = encodedChunk();

function batchAt(first: number, last: number): LogRecord[] {
  const batch: LogRecord[] = [];
  for (let k = first; k <= last; k++) batch.push({ index: k, term: 1, type: 0, data: payload });
  return batch;
}

/** ASYNC_FLUSH appends of `entries` in BATCH-record appends from `pipeline` appenders, each
 *  awaiting its own append before taking the next batch; with `durable`, flush() is inside the
 *  timed region (sustained), without it the clock stops at the last append (burst). */
async function asyncAppendRun(
  dir: string,
  entries: number,
  durable: boolean,
  pipeline: number,
): Promise<{ mbps: number; secs: number; writeCalls: number; bytesWritten: number; fdatasyncs: number }> {
  const log = await openCommitLog({ dir, flushDiskType: 'ASYNC_FLUSH' });
  const s0 = log.stats();
  let next = 1;
  const appender = async (): Promise<void> => {
    while (next <= entries) {
      // Indexes are consecutive in call order: take the next batch at call time.
      const first = next;
      next = Math.min(first + BATCH - 1, entries) + 1;
      await log.append(batchAt(first, next - 1));
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: pipeline }, appender));
  if (durable) await log.flush();
  const secs = (performance.now() - t0) / 1000;
  const s1 = log.stats();
  await log.close();
  return {
    mbps: bodyMBps(entries, secs),
    secs,
    writeCalls: s1.writeCalls - s0.writeCalls,
    bytesWritten: s1.bytesWritten - s0.bytesWritten,
    fdatasyncs: s1.fdatasyncCalls - s0.fdatasyncCalls,
  };
}

/** Sequential read of the whole log from a fresh open (empty record cache: from the files). */
async function readRun(dir: string): Promise<number> {
  const reader = await openCommitLog({ dir });
  const r0 = performance.now();
  let next = 1;
  let bytes = 0;
  while (next <= reader.lastIndex()) {
    const recs = reader.read(next, 4 * MiB);
    for (const r of recs) bytes += r.data.byteLength;
    next += recs.length;
  }
  const rsecs = (performance.now() - r0) / 1000;
  await reader.close();
  return bytes / MiB / rsecs;
}

/**
 * The baseline: a plain fs.writeSync loop of the record bytes the async run writes to its segment
 * (header 48 + body 1024 per entry, BATCH entries = 137 KB per write) into a fresh file; with
 * `durable`, one fdatasync at the end inside the timed region. MB/s of body bytes, as for async.
 */
function rawRun(file: string, entries: number, durable: boolean): { mbps: number; secs: number } {
  const fd = fs.openSync(file, 'w');
  const total = entries * RECORD_BYTES;
  const t0 = performance.now();
  for (let written = 0; written < total; ) written += fs.writeSync(fd, rawChunk, 0, Math.min(rawChunk.length, total - written));
  if (durable) fs.fdatasyncSync(fd);
  const secs = (performance.now() - t0) / 1000;
  fs.closeSync(fd);
  return { mbps: bodyMBps(entries, secs), secs };
}

async function syncRun(dir: string): Promise<{ appendMBps: number; appendsPerSec: number; fsyncsPerSec: number; roundsPerSec: number }> {
  const log = await openCommitLog({ dir, flushDiskType: 'SYNC_FLUSH', directIo: DIRECT_IO });
  const s0 = log.stats();
  let issued = 0;
  const t0 = performance.now();
  const appender = async (): Promise<void> => {
    while (issued < SYNC_ENTRIES) {
      issued++;
      // Indexes are consecutive in call order: take the next one at call time.
      await log.append([{ index: log.lastIndex() + 1, term: 1, type: 0, data: payload }]);
    }
  };
  await Promise.all(Array.from({ length: APPENDERS }, appender));
  const secs = (performance.now() - t0) / 1000;
  const s1 = log.stats();
  await log.close();
  return {
    appendMBps: (issued * ENTRY_BYTES) / MiB / secs,
    appendsPerSec: issued / secs,
    fsyncsPerSec: (s1.fdatasyncCalls - s0.fdatasyncCalls) / secs,
    roundsPerSec: (s1.flushRounds - s0.flushRounds) / secs,
  };
}

/** SYNC_FLUSH, one appender awaiting each single-record append: per-append latency. */
async function syncSerialRun(dir: string): Promise<{ appendsPerSec: number; p50Us: number; p99Us: number }> {
  const log = await openCommitLog({ dir, flushDiskType: 'SYNC_FLUSH', directIo: DIRECT_IO });
  const lat = new Float64Array(SYNC_SERIAL_ENTRIES);
  const t0 = performance.now();
  for (let i = 0; i < SYNC_SERIAL_ENTRIES; i++) {
    const a = performance.now();
    await log.append([{ index: i + 1, term: 1, type: 0, data: payload }]);
    lat[i] = performance.now() - a;
  }
  const secs = (performance.now() - t0) / 1000;
  await log.close();
  lat.sort();
  return { appendsPerSec: SYNC_SERIAL_ENTRIES / secs, p50Us: lat[Math.floor(lat.length * 0.5)] * 1000, p99Us: lat[Math.floor(lat.length * 0.99)] * 1000 };
}

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'raftmq-bench-commitlog-'));

/** SUSTAINED_MB, scaled down if the disk would keep less than 10 GiB free during a phase (the log
 *  writes record + index bytes; the largest phase's files exist one at a time). */
function sustainedMB(): number {
  const st = fs.statfsSync(root);
  const freeBytes = st.bavail * st.bsize;
  const perMB = (MiB / ENTRY_BYTES) * (RECORD_BYTES + INDEX_ENTRY_SIZE);
  const roomMB = Math.floor((freeBytes - FREE_DISK_KEEP_BYTES - 2 * ASYNC_MB * MiB) / perMB);
  const dirtyableBytes = meminfoKiB('MemAvailable') * 1024;
  const ratioOr = (bytesFile: string, ratioFile: string): number => readProcNumber(bytesFile) || (readProcNumber(ratioFile) / 100) * dirtyableBytes;
  const bgLimit = ratioOr('/proc/sys/vm/dirty_background_bytes', '/proc/sys/vm/dirty_background_ratio');
  const limit = ratioOr('/proc/sys/vm/dirty_bytes', '/proc/sys/vm/dirty_ratio');
  say(
    `disk: ${round(freeBytes / GiB)} GiB free in ${root}; dirty page limits ~${round(bgLimit / GiB)} GiB (background writeback) / ` +
      `~${round(limit / GiB)} GiB (writers throttled)`,
  );
  let mb = SUSTAINED_MB_WANTED;
  if (roomMB < mb) {
    mb = Math.max(0, roomMB);
    say(`NOTE: SUSTAINED_MB scaled down from ${SUSTAINED_MB_WANTED} to ${mb}: not enough free disk to write ${SUSTAINED_MB_WANTED} MiB and keep 10 GiB free`);
  }
  if (mb * MiB < 1.25 * limit) {
    say(
      `NOTE: sustained volume ${mb} MiB is not well above the dirty limit (~${Math.round(limit / MiB)} MiB): the writer is hardly throttled, ` +
        `so the figures are mostly page-cache copy followed by one big flush, not a steady disk-bound stream`,
    );
  }
  if (mb < 1) throw new Error('no room on disk for the sustained phase');
  return mb;
}

const results = {
  asyncAppendMBps: [] as number[],
  syncAppendMBps: [] as number[],
  syncAppendsPerSec: [] as number[],
  fsyncsPerSec: [] as number[],
  readMBps: [] as number[],
  rawSeqWriteMBps: [] as number[],
  asyncPipeline: [] as number[],
  asyncAppendSerialMBps: [] as number[],
  asyncBurstMBps: [] as number[],
  rawBurstMBps: [] as number[],
  syncReadMBps: [] as number[],
  syncSerialAppendsPerSec: [] as number[],
  syncSerialP50Us: [] as number[],
  syncSerialP99Us: [] as number[],
};
const crcs: number[] = [];
/** The rate if the body CRCs and the raw run's writes ran one after the other on one thread (the
 *  CRC worker lets the log overlap them). */
const ceilingPercent = (raw: number, crc: number): number => (100 * crc) / (raw + crc);
try {
  const load0 = os.loadavg();
  say(`load average at start: ${load0.map((x) => x.toFixed(2)).join(' ')} (${os.cpus().length} cores); phases ${[...PHASES].join(',')}`);
  const susMB = PHASES.has('sustained') ? sustainedMB() : 0;
  const susEntries = entriesFor(susMB);
  const burstEntries = entriesFor(ASYNC_MB);
  say(`sustained: ${susMB} MiB per phase incl. final fdatasync; burst: ${ASYNC_MB} MiB, no flush; async pipeline ${PIPELINE}; ${RUNS} runs`);
  for (let run = 1; run <= RUNS; run++) {
    if (PHASES.has('sustained')) {
      // Sustained, disk-bound: raw and log alternate which goes first (the serial log run last).
      const order: ('raw' | 'async' | 'serial')[] = run % 2 === 1 ? ['raw', 'async', 'serial'] : ['async', 'raw', 'serial'];
      let raw = 0;
      let asy = 0;
      for (const phase of order) {
        await settle(`sustained ${phase} run ${run}`);
        say(`run ${run}/${RUNS} sustained ${phase}: writing ${susMB} MiB (unwritten before: ${round(unwrittenMiB())} MiB, load ${os.loadavg()[0].toFixed(2)})`);
        if (phase === 'raw') {
          const file = path.join(root, `raw-sustained-${run}`);
          const r = rawRun(file, susEntries, true);
          fs.rmSync(file, { force: true });
          raw = r.mbps;
          say(`run ${run}/${RUNS} sustained raw: ${round(r.mbps)} MB/s (${round(r.secs)} s incl. fdatasync)`);
        } else {
          const dir = path.join(root, `async-sustained-${phase}-${run}`);
          const pipeline = phase === 'async' ? PIPELINE : 1;
          const a = await asyncAppendRun(dir, susEntries, true, pipeline);
          fs.rmSync(dir, { recursive: true, force: true });
          if (phase === 'async') asy = a.mbps;
          else results.asyncAppendSerialMBps.push(a.mbps);
          say(
            `run ${run}/${RUNS} sustained async, ${pipeline} in flight: ${round(a.mbps)} MB/s (${round(a.secs)} s incl. flush(); ` +
              `${a.writeCalls} writes (segment + index), ${round(a.bytesWritten / MiB)} MiB written, ${a.fdatasyncs} fdatasyncs)`,
          );
        }
      }
      results.asyncAppendMBps.push(asy);
      results.rawSeqWriteMBps.push(raw);
      results.asyncPipeline.push(PIPELINE);
      say(`run ${run}/${RUNS} sustained: async / raw = ${round(asy)} / ${round(raw)} = ${pct(asy, raw)}%`);
    }

    if (PHASES.has('burst')) {
      // Burst, page cache: the async run's files are then read back.
      await settle(`burst async run ${run}`);
      const burstDir = path.join(root, `async-burst-${run}`);
      const ab = await asyncAppendRun(burstDir, burstEntries, false, PIPELINE);
      const readMBps = await readRun(burstDir);
      fs.rmSync(burstDir, { recursive: true, force: true });
      await settle(`burst raw run ${run}`);
      const burstFile = path.join(root, `raw-burst-${run}`);
      const rb = rawRun(burstFile, burstEntries, false);
      fs.rmSync(burstFile, { force: true });
      const crc = crcOnlyMBps(burstEntries);
      crcs.push(crc);
      results.asyncBurstMBps.push(ab.mbps);
      results.rawBurstMBps.push(rb.mbps);
      results.readMBps.push(readMBps);
      say(
        `run ${run}/${RUNS} burst: async ${round(ab.mbps)} MB/s, raw ${round(rb.mbps)} MB/s (${pct(ab.mbps, rb.mbps)}%); ` +
          `body CRCs alone ${round(crc)} MB/s; read ${round(readMBps)} MB/s`,
      );
    }

    if (PHASES.has('sync')) {
      await settle(`sync run ${run}`);
      const s = await syncRun(path.join(root, `sync-${run}`));
      const syncReadMBps = await readRun(path.join(root, `sync-${run}`));
      fs.rmSync(path.join(root, `sync-${run}`), { recursive: true, force: true });
      results.syncReadMBps.push(syncReadMBps);
      results.syncAppendMBps.push(s.appendMBps);
      results.syncAppendsPerSec.push(s.appendsPerSec);
      results.fsyncsPerSec.push(s.fsyncsPerSec);
      say(
        `run ${run}/${RUNS} sync: ${Math.round(s.appendsPerSec)} appends/s ${round(s.appendMBps)} MB/s, ` +
          `${Math.round(s.fsyncsPerSec)} fdatasync/s in ${Math.round(s.roundsPerSec)} group commits/s (load ${os.loadavg()[0].toFixed(2)}); ` +
          `read back ${round(syncReadMBps)} MB/s`,
      );
    }

    if (PHASES.has('syncSerial')) {
      await settle(`sync serial run ${run}`);
      const s = await syncSerialRun(path.join(root, `sync-serial-${run}`));
      fs.rmSync(path.join(root, `sync-serial-${run}`), { recursive: true, force: true });
      results.syncSerialAppendsPerSec.push(s.appendsPerSec);
      results.syncSerialP50Us.push(s.p50Us);
      results.syncSerialP99Us.push(s.p99Us);
      say(
        `run ${run}/${RUNS} sync serial: ${Math.round(s.appendsPerSec)} appends/s, p50 ${Math.round(s.p50Us)} us, p99 ${Math.round(s.p99Us)} us ` +
          `(load ${os.loadavg()[0].toFixed(2)})`,
      );
    }
  }
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
const m = (k: keyof typeof results): number => median(results[k]);
if (PHASES.has('sustained')) {
  say(
    `medians: sustained async (${PIPELINE} in flight) ${round(m('asyncAppendMBps'))} MB/s / raw ${round(m('rawSeqWriteMBps'))} MB/s = ` +
      `asyncAppendMBps / rawSeqWriteMBps = ${pct(m('asyncAppendMBps'), m('rawSeqWriteMBps'))}%; ` +
      `one awaiting appender ${round(m('asyncAppendSerialMBps'))} MB/s = ${pct(m('asyncAppendSerialMBps'), m('rawSeqWriteMBps'))}%`,
  );
}
if (PHASES.has('burst')) {
  say(
    `medians: burst async ${round(m('asyncBurstMBps'))} / raw ${round(m('rawBurstMBps'))} MB/s = ${pct(m('asyncBurstMBps'), m('rawBurstMBps'))}% ` +
      `(body CRCs alone ${round(median(crcs))} MB/s; CRC then copy one after the other on one thread: ${round(ceilingPercent(m('rawBurstMBps'), median(crcs)))}%)`,
  );
}
say(`load average at end: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
const integral = new Set(['syncAppendsPerSec', 'fsyncsPerSec', 'syncSerialAppendsPerSec', 'syncSerialP50Us', 'syncSerialP99Us', 'asyncPipeline']);
const out = Object.fromEntries(
  Object.entries(results)
    .filter(([, v]) => v.length > 0)
    .map(([k, v]) => [k, integral.has(k) ? Math.round(median(v)) : round(median(v))]),
);
process.stdout.write(`${JSON.stringify(out)}\n`);
