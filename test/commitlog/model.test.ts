// Model-based test: random sequences of append / read / termAt / truncateAfter / deleteBefore /
// flush / close+reopen / crash (unflushed tail torn at a random byte, zeros or garbage after it)
// against a plain array. After every command the store and the model agree.
// Replay a failure: SEED=<seed> npx tap test/commitlog/model.test.ts (fast-check prints the seed
// and the shrunk path of a failing run).
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { openCommitLog, CommitLogFaults, type FileCommitLog, type CommitLogOptions, type LogRecord } from '../../src/commitlog/index.ts';
import { body, collectLog, indexFiles, removeDir, sameRecord, tempDir, type LogLine } from './helpers.ts';

const SEED = process.env.SEED !== undefined ? Number(process.env.SEED) : 424242;
const NUM_RUNS = Number(process.env.NUM_RUNS ?? 60);
const ran = new Map<string, number>();
function count(name: string): void {
  ran.set(name, (ran.get(name) ?? 0) + 1);
}

interface Model {
  first: number;
  prevTerm: number;
  recs: LogRecord[];
}

interface Real {
  log: FileCommitLog;
  /** Opens every store of the run, with `faults` (to crash it). */
  opts: CommitLogOptions & { faults: CommitLogFaults };
  lines: LogLine[];
}

function last(m: Model): number {
  return m.first + m.recs.length - 1;
}

function lastTerm(m: Model): number {
  return m.recs.length === 0 ? m.prevTerm : m.recs[m.recs.length - 1].term;
}

function verify(m: Model, r: Real): void {
  const log = r.log;
  if (log.firstIndex() !== m.first) throw new Error(`firstIndex ${log.firstIndex()} != model ${m.first}`);
  if (log.lastIndex() !== last(m)) throw new Error(`lastIndex ${log.lastIndex()} != model ${last(m)}`);
  if (log.termAt(m.first - 1) !== m.prevTerm) throw new Error(`termAt(first-1) ${log.termAt(m.first - 1)} != ${m.prevTerm}`);
  for (const rec of m.recs) {
    if (log.termAt(rec.index) !== rec.term) throw new Error(`termAt(${rec.index}) ${log.termAt(rec.index)} != ${rec.term}`);
  }
  const got = log.read(m.first, Number.POSITIVE_INFINITY);
  if (got.length !== m.recs.length) throw new Error(`read returned ${got.length} records, model has ${m.recs.length}`);
  for (let k = 0; k < got.length; k++) {
    if (!sameRecord(got[k], m.recs[k])) throw new Error(`record ${m.recs[k].index} differs`);
  }
  if (log.stats().segmentsRecycled > 0) count('(checks with a recycled segment file in use)');
  const errors = r.lines.filter((l) => l.level === 'error');
  if (errors.length > 0) throw new Error(`store logged errors: ${JSON.stringify(errors)}`);
}

class AppendCmd implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly sizes: number[],
    readonly termBump: number,
    readonly salt: number,
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    count('AppendCmd');
    const term = lastTerm(m) + this.termBump;
    const recs = this.sizes.map((size, k) => {
      const index = last(m) + 1 + k;
      return { index, term, type: k % 2, data: body(index, size, this.salt) };
    });
    await r.log.append(recs);
    m.recs.push(...recs);
    verify(m, r);
  }
  toString(): string {
    return `append(${this.sizes.length} sizes=${this.sizes.join('/')}, +term ${this.termBump})`;
  }
}

class ConcurrentAppendCmd implements fc.AsyncCommand<Model, Real> {
  constructor(readonly count: number, readonly size: number) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    count('ConcurrentAppendCmd');
    const term = lastTerm(m);
    const all: Promise<void>[] = [];
    for (let k = 0; k < this.count; k++) {
      const rec = { index: last(m) + 1, term, type: 0, data: body(last(m) + 1, this.size, 7) };
      all.push(r.log.append([rec]));
      m.recs.push(rec);
    }
    await Promise.all(all);
    verify(m, r);
  }
  toString(): string {
    return `concurrentAppend(${this.count} x ${this.size})`;
  }
}

class ReadCmd implements fc.AsyncCommand<Model, Real> {
  constructor(readonly fromFrac: number, readonly maxBytes: number) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    count('ReadCmd');
    const from = m.first + Math.floor(this.fromFrac * (m.recs.length + 1));
    const got = r.log.read(from, this.maxBytes);
    const want: LogRecord[] = [];
    let bytes = 0;
    for (let i = from - m.first; i < m.recs.length; i++) {
      const rec = m.recs[i];
      if (want.length > 0 && bytes + rec.data.byteLength > this.maxBytes) break;
      want.push(rec);
      bytes += rec.data.byteLength;
    }
    if (got.length !== want.length) throw new Error(`read(${from}, ${this.maxBytes}) gave ${got.length}, want ${want.length}`);
    for (let k = 0; k < got.length; k++) if (!sameRecord(got[k], want[k])) throw new Error(`read record ${want[k].index} differs`);
  }
  toString(): string {
    return `read(${this.fromFrac.toFixed(2)}, ${this.maxBytes})`;
  }
}

class TruncateCmd implements fc.AsyncCommand<Model, Real> {
  constructor(readonly frac: number) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    count('TruncateCmd');
    const index = m.first - 1 + Math.floor(this.frac * (m.recs.length + 1));
    await r.log.truncateAfter(index);
    m.recs.length = index - m.first + 1;
    verify(m, r);
  }
  toString(): string {
    return `truncateAfter(${this.frac.toFixed(2)})`;
  }
}

class DeleteBeforeCmd implements fc.AsyncCommand<Model, Real> {
  constructor(readonly frac: number) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    count('DeleteBeforeCmd');
    const index = m.first + Math.floor(this.frac * (m.recs.length + 1));
    await r.log.deleteBefore(index);
    const newFirst = r.log.firstIndex();
    if (newFirst < m.first || (newFirst > m.first && newFirst > index)) {
      throw new Error(`deleteBefore(${index}) moved first ${m.first} -> ${newFirst}`);
    }
    if (newFirst > m.first) {
      m.prevTerm = m.recs[newFirst - 1 - m.first].term;
      m.recs = m.recs.slice(newFirst - m.first);
      m.first = newFirst;
    }
    verify(m, r);
  }
  toString(): string {
    return `deleteBefore(${this.frac.toFixed(2)})`;
  }
}

class FlushCmd implements fc.AsyncCommand<Model, Real> {
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    count('FlushCmd');
    await r.log.flush();
    if (r.log.flushedIndex() !== last(m)) throw new Error(`flushedIndex ${r.log.flushedIndex()} after flush, last ${last(m)}`);
    verify(m, r);
  }
  toString(): string {
    return 'flush';
  }
}

class ReopenCmd implements fc.AsyncCommand<Model, Real> {
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    count('ReopenCmd');
    await r.log.close();
    r.log = await openCommitLog(r.opts);
    verify(m, r);
  }
  toString(): string {
    return 'close+reopen';
  }
}

/** Kill at a quiet moment: files closed without a flush; the last segment's unflushed records torn
 *  at a random byte, the file then either keeping its (preallocated) length with zeros from the tear
 *  on ('sparse') or ending there ('short': an unextended file, the old layout), maybe with zeros or
 *  garbage written `gap` bytes after the tear; index entries past the flushed one torn. */
class CrashCmd implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly cutFrac: number,
    readonly tail: 'none' | 'zeros' | 'garbage',
    readonly tailBytes: number,
    readonly indexFrac: number,
    readonly layout: 'sparse' | 'short' = 'short',
    readonly gap: number = 0,
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    count('CrashCmd');
    const info = await r.opts.faults.crash();
    if (info.lastSegmentPath !== null) {
      const fileLen = fs.statSync(info.lastSegmentPath).size;
      const size = info.lastSegmentWrittenBytes;
      if (fileLen < size) throw new Error(`the last segment's file (${fileLen} bytes) is shorter than its records (${size})`);
      const lo = Math.max(0, Math.min(size, info.flushedPos - info.lastSegmentStart));
      const len = lo + Math.floor(this.cutFrac * (size - lo + 1));
      fs.truncateSync(info.lastSegmentPath, Math.min(len, size));
      if (this.layout === 'sparse') fs.truncateSync(info.lastSegmentPath, Math.max(fileLen, len));
      if (this.tail !== 'none') {
        const extra = this.tail === 'zeros' ? Buffer.alloc(this.tailBytes) : body(len, this.tailBytes, 99);
        const fd = fs.openSync(info.lastSegmentPath, 'r+');
        fs.writeSync(fd, extra, 0, extra.length, len + this.gap);
        fs.closeSync(fd);
      }
    }
    const dir = r.opts.dir;
    const perFile = r.opts.indexEntriesPerFile as number;
    // Index entries are synced lazily: any entry of the last segment may be lost or torn.
    const tornFrom = info.lastSegmentFirstIndex + Math.floor(this.indexFrac * (info.flushedIndex + 2 - info.lastSegmentFirstIndex));
    for (const f of indexFiles(dir)) {
      const start = Number(path.basename(f));
      const size = fs.statSync(f).size;
      const keep = Math.max(0, (tornFrom - start) * 32);
      if (start + perFile <= tornFrom || keep >= size) continue;
      fs.truncateSync(f, keep + Math.floor(this.indexFrac * (size - keep + 1)));
    }
    r.log = await openCommitLog(r.opts);
    const got = r.log.lastIndex();
    if (got < info.flushedIndex) throw new Error(`crash lost flushed records: last ${got} < flushed ${info.flushedIndex}`);
    if (got > last(m)) throw new Error(`crash invented records: last ${got} > ${last(m)}`);
    m.recs.length = got - m.first + 1;
    verify(m, r);
  }
  toString(): string {
    return `crash(cut ${this.cutFrac.toFixed(2)}, ${this.layout}, ${this.tail} ${this.tailBytes} after ${this.gap}, index ${this.indexFrac.toFixed(2)})`;
  }
}

const commands = [
  fc
    .tuple(fc.array(fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 4000 })), { minLength: 1, maxLength: 12 }), fc.integer({ min: 0, max: 2 }), fc.nat(1000))
    .map(([sizes, bump, salt]) => new AppendCmd(sizes, bump, salt)),
  fc.tuple(fc.integer({ min: 2, max: 40 }), fc.integer({ min: 0, max: 600 })).map(([n, s]) => new ConcurrentAppendCmd(n, s)),
  fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 5000 }), fc.constant(1e9))).map(([f, b]) => new ReadCmd(f, b)),
  fc.double({ min: 0, max: 1, noNaN: true }).map((f) => new TruncateCmd(f)),
  // Not fc.double: it gives almost only 0 and 1 (retention then never removed a segment).
  fc.integer({ min: 0, max: 1000 }).map((n) => new DeleteBeforeCmd(n / 1000)),
  fc.constant(new FlushCmd()),
  fc.constant(new ReopenCmd()),
  fc
    .tuple(
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.constantFrom('none' as const, 'zeros' as const, 'garbage' as const),
      fc.integer({ min: 1, max: 300 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.constantFrom('sparse' as const, 'short' as const),
      fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 600 })),
    )
    .map(([c, tail, n, i, layout, gap]) => new CrashCmd(c, tail, n, i, layout, gap)),
];

const optionsArb = fc.record({
  flushDiskType: fc.constantFrom('SYNC_FLUSH' as const, 'ASYNC_FLUSH' as const, 'ASYNC_FLUSH' as const),
  // 5000: not a multiple of the direct-I/O block, so the last block's padding runs past it.
  segmentBytes: fc.constantFrom(4096, 5000, 8192, 65536),
  indexEntriesPerFile: fc.constantFrom(16, 64, 1024),
  cacheBytes: fc.constantFrom(0, 3000, 1 << 20),
  flushLeastBytes: fc.constantFrom(2000, 1 << 30),
  preallocate: fc.constantFrom(true, true, false),
  // SYNC_FLUSH writes with O_DIRECT (with preallocate) or through the page cache.
  directIo: fc.constantFrom(true, false),
  // 1: every batch's CRCs on the worker thread; 0: all inline.
  crcOffloadMinBytes: fc.constantFrom(0, 1, 65536),
  // Files of removed segments reused for new ones (recycler.ts), or not.
  recycledSegmentsMax: fc.constantFrom(0, 0, 1, 3),
});

t.test('the commitlog agrees with an array model under random commands and crashes', async (t) => {
  t.comment(`seed ${SEED} (replay: SEED=${SEED} npx tap test/commitlog/model.test.ts)`);
  await fc.assert(
    fc.asyncProperty(optionsArb, fc.commands(commands, { maxCommands: 60, size: 'large' }), async (o, cmds) => {
      const dir = tempDir('model');
      const { lines, log } = collectLog();
      const opts = { dir, ...o, flushIntervalMs: 3_600_000, log, faults: new CommitLogFaults() };
      const real: Real = { log: await openCommitLog(opts), opts, lines };
      try {
        await fc.asyncModelRun(() => ({ model: { first: 1, prevTerm: 0, recs: [] } as Model, real }), cmds);
      } finally {
        await real.log.close();
        removeDir(dir);
      }
    }),
    { seed: SEED, numRuns: NUM_RUNS },
  );
  t.comment(`commands run: ${JSON.stringify(Object.fromEntries(ran))}`);
  t.ok((ran.get('CrashCmd') ?? 0) > 0 && (ran.get('DeleteBeforeCmd') ?? 0) > 0, 'crashes and retention were exercised');
});
