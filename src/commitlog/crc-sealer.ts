// Body CRCs of large batches, computed on a worker thread.
//
// Why: zlib.crc32 over every body (arithmetic plus a call per record) is a large share of the
// append path's main-thread time (`npm run bench:commitlog` prints the CRC rate next to the burst
// figures). A batch of at least `minBytes` is encoded into a SharedArrayBuffer arena without its
// CRCs; the worker fills them in (body CRC, then header CRC, per record: record.ts sealRecords)
// while the main thread encodes and writes other batches; the pump writes a chunk only once it is
// sealed.
// Small batches (a lone SYNC_FLUSH append, one message in flight) are sealed inline: a hand-off
// costs tens of microseconds of latency, more than their CRCs.
//
// Jobs complete in submission order (one worker, one message queue). Memory ordering: the worker
// writes the CRC bytes before it posts the job's reply, and the main thread reads them (by writing
// the chunk to the file) only after receiving that reply.
//
// If the worker fails (it cannot start, throws, or exits), every job still outstanding and every
// later one is sealed inline on the main thread: slower, never wrong. A job's buffer bytes are
// those of a SharedArrayBuffer, so the main thread can seal them itself.
import { Worker } from 'node:worker_threads';
import type { CommitLogFaults } from './faults.ts';
import { BODY_CRC_AT, HEADER_CRC_AT, RECORD_HEADER_SIZE, TOTAL_SIZE_AT, sealRecords, viewOf } from './record.ts';

/** Default for CommitLogOptions.crcOffloadMinBytes: a batch of 64 KiB (some sixty bodies of 1 KiB)
 *  has CRCs worth more than a hand-off to the worker. Not tuned: the case it was chosen for is the
 *  commitlog benchmark's 137 KB batches (`npm run bench:commitlog`, sustained ASYNC_FLUSH). */
export const CRC_OFFLOAD_MIN_BYTES_DEFAULT = 64 * 1024;
/** Jobs outstanding at most; beyond that a batch is sealed inline (a bound on the queue). */
const JOBS_MAX = 4096;

// The worker: plain JavaScript (it runs without the TypeScript loader), sealRecords of record.ts
// with zlib.crc32 for the header too, the layout taken from record.ts's constants.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { crc32 } = require('node:zlib');
const buffers = new Map();
parentPort.on('message', (m) => {
  if (m.forget !== undefined) { buffers.delete(m.forget); return; }
  if (m.sab !== undefined) buffers.set(m.id, m.sab);
  const sab = buffers.get(m.id);
  const dv = new DataView(sab);
  for (let off = m.start; off < m.end; ) {
    const size = dv.getUint32(off + ${TOTAL_SIZE_AT});
    dv.setUint32(off + ${BODY_CRC_AT}, crc32(new Uint8Array(sab, off + ${RECORD_HEADER_SIZE}, size - ${RECORD_HEADER_SIZE})));
    dv.setUint32(off + ${HEADER_CRC_AT}, crc32(new Uint8Array(sab, off, ${HEADER_CRC_AT})));
    off += size;
  }
  parentPort.postMessage(m.seq);
});
`;

interface Job {
  readonly seq: number;
  readonly buf: Buffer;
  readonly start: number;
  readonly end: number;
  readonly done: () => void;
}

export class CrcSealer {
  private worker: Worker | null = null;
  private failed = false;
  private closed = false;
  private jobs: Job[] = [];
  private jobsHead = 0;
  private nextSeq = 1;
  private nextBufferId = 1;
  /** Buffers the worker holds, by id (it keeps a reference until told to forget it). */
  private readonly bufferIds = new Map<ArrayBufferLike, number>();

  /** `faults` (tests only) can kill the worker. */
  constructor(
    private readonly warn: (msg: string, fields?: object) => void,
    faults?: CommitLogFaults,
  ) {
    // The worker dies as a crashed thread would (the 'exit' handler sees it).
    faults?.onKillCrcWorker(async () => {
      await this.worker?.terminate();
    });
  }

  /** Whether batches may go to the worker at all (it has not failed; not closed). */
  usable(): boolean {
    return !this.failed && !this.closed;
  }

  /** Whether a batch can be handed to the worker now (else: seal it inline). */
  available(): boolean {
    return this.usable() && this.outstanding() < JOBS_MAX;
  }

  /** Jobs handed out and not yet done. */
  outstanding(): number {
    return this.jobs.length - this.jobsHead;
  }

  /**
   * Seals the records in buf[start, end) on the worker, then calls `done` (on the main thread, in
   * submission order). `buf` must view a SharedArrayBuffer. Call only when available().
   */
  submit(buf: Buffer, start: number, end: number, done: () => void): void {
    const sab = buf.buffer;
    if (!(sab instanceof SharedArrayBuffer)) throw new Error('CrcSealer.submit: the buffer must view a SharedArrayBuffer');
    const worker = this.workerOrNull();
    const job: Job = { seq: this.nextSeq++, buf, start: buf.byteOffset + start, end: buf.byteOffset + end, done };
    if (worker === null) {
      sealInline(job);
      queueMicrotask(done);
      return;
    }
    if (this.outstanding() === 0) worker.ref(); // a reply is awaited: keep the process alive
    this.jobs.push(job);
    let id = this.bufferIds.get(sab);
    if (id === undefined) {
      id = this.nextBufferId++;
      this.bufferIds.set(sab, id);
      worker.postMessage({ id, sab, start: job.start, end: job.end, seq: job.seq });
    } else {
      worker.postMessage({ id, start: job.start, end: job.end, seq: job.seq });
    }
  }

  /** The worker may drop its reference to `buf`'s memory (after the jobs already submitted). */
  forget(buf: Buffer): void {
    const id = this.bufferIds.get(buf.buffer);
    if (id === undefined) return;
    this.bufferIds.delete(buf.buffer);
    this.worker?.postMessage({ forget: id });
  }

  /** Stops the worker. Jobs still outstanding are sealed inline and reported done first. */
  close(): Promise<void> {
    this.closed = true;
    this.sealOutstandingInline();
    const w = this.worker;
    this.worker = null;
    return w === null ? Promise.resolve() : w.terminate().then(() => {});
  }

  private workerOrNull(): Worker | null {
    if (this.worker !== null || this.failed) return this.worker;
    try {
      const w = new Worker(WORKER_SOURCE, { eval: true, name: 'raftmq-crc' });
      w.on('message', (seq: number) => this.onReply(seq));
      w.on('error', (err) => this.onFailure(err));
      w.on('exit', (code) => {
        if (!this.closed) this.onFailure(new Error(`CRC worker exited with code ${code}`));
      });
      w.unref();
      this.worker = w;
    } catch (err) {
      this.onFailure(err);
    }
    return this.worker;
  }

  private onReply(seq: number): void {
    const job = this.jobs[this.jobsHead];
    if (job === undefined || job.seq !== seq) {
      // Replies come in submission order; anything else means the worker cannot be trusted.
      this.onFailure(new Error(`CRC worker replied ${seq}, expected ${job?.seq ?? 'nothing'}`));
      return;
    }
    this.jobsHead++;
    if (this.jobsHead === this.jobs.length) {
      this.jobs = [];
      this.jobsHead = 0;
      this.worker?.unref();
    }
    job.done();
  }

  private onFailure(err: unknown): void {
    if (this.failed || this.closed) return;
    this.failed = true;
    this.warn('CRC worker failed; sealing batches on the main thread from now on', { error: String(err) });
    const w = this.worker;
    this.worker = null;
    void w?.terminate().catch(() => {});
    this.sealOutstandingInline();
  }

  /** Seals (again: a CRC is a function of the bytes) every outstanding job here and reports it. */
  private sealOutstandingInline(): void {
    const jobs = this.jobs.slice(this.jobsHead);
    this.jobs = [];
    this.jobsHead = 0;
    for (const job of jobs) sealInline(job);
    for (const job of jobs) job.done();
  }
}

function sealInline(job: Job): void {
  const whole = Buffer.from(job.buf.buffer, 0, job.buf.buffer.byteLength);
  sealRecords(whole, viewOf(whole), job.start, job.end);
}
