// Direct I/O (O_DIRECT) data writes for the active segment under SYNC_FLUSH.
//
// Why: a buffered write copies every byte into page-cache pages, and on a VM whose free memory
// the host has taken back, each fresh page costs a fault on the host: under full load that copy
// is a large share of the CPU, and direct writes made durable cost less CPU per byte and go
// faster (`npm run bench:direct-io` compares the two). A SYNC_FLUSH log fdatasyncs every write at
// once anyway, so the page cache buys it nothing on the write path. The fd is opened O_DSYNC as
// well: a write returns once its data (and the block allocation in the sparse file) is durable,
// as if fdatasync followed it, in one thread-pool job instead of two (a write, then the round's
// fdatasync), which lowers the latency of a lone append and costs no throughput
// (`npm run bench:commitlog`, syncSerial and sync phases).
//
// O_DIRECT needs the buffer address, the file offset and the length aligned (4 KiB here, the
// largest logical block size in common use). Each write therefore copies into an aligned staging
// buffer (WebAssembly memory: page-aligned), starting with the last partial block already in the
// file (kept in `tail`), and pads the end with zeros up to the next block. The zeros are what a
// preallocated (sparse) segment reads as anyway: the clean end for recovery. The next write
// rewrites that block with more data after the zeros' place.
//
// Reads of the segment stay on its buffered fd: the kernel keeps the two coherent (a direct
// write writes back and drops cached pages of its range).
import fs from 'node:fs';
import { promisify } from 'node:util';

const writeCb = promisify(fs.write);

export const DIRECT_ALIGN = 4096;
const WASM_PAGE = 65536;

// The one WebAssembly API used here (the project's lib has no WebAssembly declarations).
declare const WebAssembly: { Memory: new (d: { initial: number; maximum: number }) => { buffer: ArrayBuffer } };

/** A page-aligned buffer of `bytes`, for a log's staging buffer (WebAssembly memory is mapped at
 *  page boundaries). */
export function alignedBuffer(bytes: number): Buffer {
  const pages = Math.ceil(bytes / WASM_PAGE);
  const mem = new WebAssembly.Memory({ initial: pages, maximum: pages });
  return Buffer.from(mem.buffer, 0, bytes);
}

export class DirectWriter {
  private readonly tail = Buffer.alloc(DIRECT_ALIGN);
  /** The bytes of the file's last partial block are in `tail[0, pos % DIRECT_ALIGN)` while the
   *  file's records end at `knownEnd`; -1: unknown (reloaded from the file before the next write). */
  private knownEnd = -1;

  /** `fd` is open with O_DIRECT | O_DSYNC; `readFd` is the same file's buffered fd (to reload the tail). */
  constructor(
    private readonly fd: number,
    private readonly readFd: number,
    private readonly staging: Buffer,
  ) {}

  /** Opens `file` for direct, synchronous writes; null where the filesystem refuses O_DIRECT (EINVAL). */
  static open(file: string, readFd: number, staging: Buffer): DirectWriter | null {
    let fd: number;
    try {
      fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_DIRECT | fs.constants.O_DSYNC);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EINVAL') return null;
      throw err;
    }
    return new DirectWriter(fd, readFd, staging);
  }

  /** Something else changed the file (a cut, a failed write): the tail is read again. */
  forgetTail(): void {
    this.knownEnd = -1;
  }

  /**
   * Writes `bufs` back to back at `pos` (where the file's records end) and returns the bytes of
   * records written (their total length). The file's blocks from pos's block on are rewritten; the
   * bytes after the records up to the next block boundary become zeros. Returns the aligned end
   * of what was written too, for the caller's idea of the file length.
   */
  async writeAt(bufs: readonly Buffer[], pos: number): Promise<{ bytes: number; alignedEnd: number }> {
    const blockStart = pos - (pos % DIRECT_ALIGN);
    const tailLen = pos - blockStart;
    if (this.knownEnd !== pos) this.loadTail(blockStart, tailLen);
    this.knownEnd = -1; // until this write is done
    const st = this.staging;
    const cap = st.length - (st.length % DIRECT_ALIGN);
    let filePos = blockStart;
    let staged = 0;
    if (tailLen > 0) {
      this.tail.copy(st, 0, 0, tailLen);
      staged = tailLen;
    }
    let bytes = 0;
    for (const b of bufs) {
      let off = 0;
      while (off < b.length) {
        const n = Math.min(b.length - off, cap - staged);
        b.copy(st, staged, off, off + n);
        staged += n;
        off += n;
        if (staged === cap) {
          await this.writeBlocks(cap, filePos);
          filePos += cap;
          staged = 0;
        }
      }
      bytes += b.length;
    }
    const len = staged === 0 ? 0 : Math.ceil(staged / DIRECT_ALIGN) * DIRECT_ALIGN;
    if (len > 0) {
      st.fill(0, staged, len);
      await this.writeBlocks(len, filePos);
    }
    const lastBlock = staged - (staged % DIRECT_ALIGN);
    st.copy(this.tail, 0, lastBlock, staged);
    this.knownEnd = pos + bytes;
    return { bytes, alignedEnd: filePos + len };
  }

  close(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      // closing is best effort: the fd is not used again
    }
  }

  private loadTail(blockStart: number, tailLen: number): void {
    if (tailLen === 0) return;
    const got = fs.readSync(this.readFd, this.tail, 0, tailLen, blockStart);
    if (got !== tailLen) throw new Error(`short read of the last block (${got} of ${tailLen} bytes at ${blockStart})`);
  }

  private async writeBlocks(len: number, filePos: number): Promise<void> {
    let done = 0;
    while (done < len) {
      const { bytesWritten } = await writeCb(this.fd, this.staging, done, len - done, filePos + done);
      if (bytesWritten <= 0 || bytesWritten % DIRECT_ALIGN !== 0) {
        throw Object.assign(new Error(`direct write wrote ${bytesWritten} of ${len - done} bytes`), { code: 'EIO' });
      }
      done += bytesWritten;
    }
  }
}
