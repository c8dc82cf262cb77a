// A few seconds of measurements of the machine itself, printed with every bench: the same code
// gives different figures on another (or a busier) machine, and these say which of the things a
// broker group leans on moved. Measured on 2026-12-03 here: zlib.crc32 ran at 2.1-2.9 GB/s against
// ~3.6 GB/s a few days before, round trips between processes took 75-100 us (35 us before), and writes into pages the page cache had never held ran at
// ~430 MB/s against 7-8 GB/s for writes into cached pages (this VM hands free memory back to its
// host, so first touches are host page faults); the group's throughput on that day was under
// half of the earlier figure with the same code.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { DirectWriter, alignedBuffer } from '../../src/commitlog/index.ts';
import { median } from './report.ts';

export interface MachineFigures {
  /** zlib.crc32 over 1 KiB buffers on one core: a CPU speed reading. */
  readonly crc32GBps: number;
  /** Sequential 256 KiB writes into a new file: pages the page cache does not hold yet. */
  readonly freshWriteMBps: number;
  /** A 1 KiB positional write then fdatasync, into a file extended with ftruncate (as the
   *  commitlog's active segment is): the disk's durable-write latency. */
  readonly fdatasyncP50Us: number;
  /** A 1 KiB record appended with the commitlog's DirectWriter (O_DIRECT | O_DSYNC: its 4 KiB
   *  block rewritten, durable on return), what a SYNC_FLUSH replica waits for; 0 where the file
   *  system refuses O_DIRECT. */
  readonly directWriteP50Us: number;
  /** One byte to another process over TCP on 127.0.0.1 and back: wake-up and loopback cost. */
  readonly loopbackRttP50Us: number;
  /** A KVM guest's halt polling (/sys/module/haltpoll/parameters/guest_halt_poll_ns), null where
   *  there is none. At 0 an idle vCPU halts at once, and waking it (every hop of a message, every
   *  completed disk write) costs an exit to the host: on 2026-12-06 here, setting it to 200 us
   *  for one diagnostic run took the loopback round trip from 33-77 us to 16 us and one message
   *  in flight from p50 0.72-0.84 ms to 0.57 ms. The bench never changes it. */
  readonly guestHaltPollNs: number | null;
}

const HALT_POLL_FILE = '/sys/module/haltpoll/parameters/guest_halt_poll_ns';

function guestHaltPollNs(): number | null {
  try {
    const n = Number(fs.readFileSync(HALT_POLL_FILE, 'utf8').trim());
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}

const CRC_BUFFERS = 200_000;
const FRESH_WRITE_BYTES = 128 * 1024 * 1024;
const FRESH_WRITE_CHUNK = 256 * 1024;
const FDATASYNC_ROUNDS = 400;
const RTT_ROUNDS = 2000;
const RTT_TIMEOUT_MS = 10_000;

const nowUs = (): number => Number(process.hrtime.bigint()) / 1000;

function crc32GBps(): number {
  const buf = Buffer.alloc(1024, 0x5a);
  let crc = 0;
  const start = nowUs();
  for (let i = 0; i < CRC_BUFFERS; i++) crc = zlib.crc32(buf, crc);
  const us = nowUs() - start;
  if (crc === -1) throw new Error('unreachable'); // keeps the loop's result alive
  return (CRC_BUFFERS * buf.length) / us / 1000;
}

function freshWriteMBps(dir: string): number {
  const file = path.join(dir, 'fresh-write');
  const chunk = Buffer.alloc(FRESH_WRITE_CHUNK, 0x5a);
  const fd = fs.openSync(file, 'w');
  try {
    const start = nowUs();
    for (let pos = 0; pos < FRESH_WRITE_BYTES; pos += chunk.length) fs.writeSync(fd, chunk, 0, chunk.length, pos);
    return FRESH_WRITE_BYTES / (nowUs() - start);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
}

/** Runs `fn` on a scratch file extended with ftruncate to `bytes` (sparse, as the commitlog's
 *  active segment is), then closes and removes it. */
async function onScratchFile<T>(dir: string, name: string, bytes: number, fn: (fd: number, file: string) => Promise<T> | T): Promise<T> {
  const file = path.join(dir, name);
  const fd = fs.openSync(file, 'w+');
  try {
    fs.ftruncateSync(fd, bytes);
    return await fn(fd, file);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
}

const RECORD = Buffer.alloc(1024, 0x5a);

/** The fdatasync after each 1 KiB positional write (the write itself not timed). */
function fdatasyncP50Us(dir: string): Promise<number> {
  return onScratchFile(dir, 'fdatasync', FDATASYNC_ROUNDS * RECORD.length, (fd) => {
    const times: number[] = [];
    for (let i = 0; i < FDATASYNC_ROUNDS; i++) {
      fs.writeSync(fd, RECORD, 0, RECORD.length, i * RECORD.length);
      const start = nowUs();
      fs.fdatasyncSync(fd);
      times.push(nowUs() - start);
    }
    return median(times);
  });
}

/** Each 1 KiB record appended with the DirectWriter, durable on return; 0 without O_DIRECT. */
function directWriteP50Us(dir: string): Promise<number> {
  return onScratchFile(dir, 'direct-write', FDATASYNC_ROUNDS * RECORD.length + 4096, async (fd, file) => {
    const writer = DirectWriter.open(file, fd, alignedBuffer(8192));
    if (writer === null) return 0;
    try {
      const times: number[] = [];
      for (let i = 0; i < FDATASYNC_ROUNDS; i++) {
        const start = nowUs();
        await writer.writeAt([RECORD], i * RECORD.length);
        times.push(nowUs() - start);
      }
      return median(times);
    } finally {
      writer.close();
    }
  });
}

/** An echo server in a child process (stopped by PID), pinged RTT_ROUNDS times one at a time. */
async function loopbackRttP50Us(): Promise<number> {
  const echo = "const s=require('net').createServer(c=>{c.setNoDelay(true);c.on('data',d=>c.write(d))});" +
    "s.listen(0,'127.0.0.1',()=>process.stdout.write(s.address().port+'\\n'));";
  const child = spawn(process.execPath, ['-e', echo], { stdio: ['ignore', 'pipe', 'ignore'] });
  let timer: NodeJS.Timeout | undefined;
  try {
    const work = (async () => {
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
        child.once('exit', () => reject(new Error('echo process exited')));
      });
      const sock = net.connect(port, '127.0.0.1');
      await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
      sock.setNoDelay(true);
      const times: number[] = [];
      await new Promise<void>((resolve, reject) => {
        let sent = nowUs();
        sock.on('error', reject);
        sock.on('data', () => {
          times.push(nowUs() - sent);
          if (times.length === RTT_ROUNDS) return resolve();
          sent = nowUs();
          sock.write('x');
        });
        sock.write('x');
      });
      sock.destroy();
      return median(times);
    })();
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`loopback round trips took over ${RTT_TIMEOUT_MS} ms`)), RTT_TIMEOUT_MS);
    });
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
  }
}

/** Measures the machine; `dir` is a scratch directory on the file system the replicas use. */
export async function measureMachine(dir: string): Promise<MachineFigures> {
  fs.mkdirSync(dir, { recursive: true });
  const round = (x: number, digits: number): number => Number(x.toFixed(digits));
  return {
    crc32GBps: round(crc32GBps(), 2),
    freshWriteMBps: Math.round(freshWriteMBps(dir)),
    fdatasyncP50Us: Math.round(await fdatasyncP50Us(dir)),
    directWriteP50Us: Math.round(await directWriteP50Us(dir)),
    loopbackRttP50Us: round(await loopbackRttP50Us(), 1),
    guestHaltPollNs: guestHaltPollNs(),
  };
}

export function describeMachine(m: MachineFigures): string {
  return (
    `crc32 ${m.crc32GBps} GB/s on one core, writes into fresh page-cache pages ${m.freshWriteMBps} MB/s, ` +
    `1 KiB write + fdatasync p50 ${m.fdatasyncP50Us} us, ` +
    (m.directWriteP50Us > 0 ? `1 KiB direct (O_DSYNC) write p50 ${m.directWriteP50Us} us, ` : 'no O_DIRECT here, ') +
    `loopback TCP round trip between processes p50 ${m.loopbackRttP50Us} us` +
    (m.guestHaltPollNs === null ? '' : m.guestHaltPollNs === 0 ? ', guest halt polling off (an idle vCPU is woken through the host)' : `, guest halt polling ${m.guestHaltPollNs / 1000} us`)
  );
}
