// Encoding buffers for accepted, unwritten chunks.
//
// Accepted batches are encoded back to back into a block, so the chunks of one pump pass lie in
// one buffer and are written with one write. A chunk uses its block until it is written (or
// dropped and, if the CRC worker is sealing it, sealed): `users` counts such chunks. A block is
// reused only once it has no users: the current block is rewound when it empties (the common
// case: everything accepted in a turn is written in the next one), and a full block waits among
// the spares (at most `sparesMax`) until its chunks are written. Without spares, a pump that
// never runs dry (batches always being sealed on the worker) would take fresh memory for every
// block, and fresh memory costs system time (page faults and zeroing) that reused blocks do not.
//
// Blocks are SharedArrayBuffer memory while `wantShared()` says so (the CRC worker writes into
// them). A shared block is reused only while sharing is wanted: after the worker fails, a block
// it may still write into is never handed out again.

export interface ArenaBlock {
  readonly buf: Buffer;
  readonly view: DataView;
  /** Bytes reserved from the start. */
  used: number;
  /** Chunks encoded into it that are not yet finished (see release). */
  users: number;
}

export class EncodeArena {
  private current: ArenaBlock | null = null;
  private spares: ArenaBlock[] = [];

  /** `dropped(buf)` is called when a shared block is let go (the CRC worker may forget it). */
  constructor(
    private readonly blockBytes: number,
    private readonly sparesMax: number,
    private readonly wantShared: () => boolean,
    private readonly dropped: (buf: Buffer) => void = () => {},
  ) {}

  /** Reserves `n` bytes for one chunk and returns their block: the bytes are [used - n, used) of
   *  it. The block's user count includes the chunk from now until release. */
  reserve(n: number): ArenaBlock {
    const shared = this.wantShared();
    let b = this.current;
    if (b !== null && b.users === 0) {
      if (b.buf.length === this.blockBytes) {
        b.used = 0; // nothing lives in it any more
      } else {
        this.retire(b); // a block of one huge batch is let go
        b = this.current = null;
      }
    }
    if (b === null || b.used + n > b.buf.length || isShared(b) !== shared) {
      if (b !== null) this.retire(b);
      b = (n <= this.blockBytes ? this.takeSpare(shared) : null) ?? newBlock(Math.max(n, this.blockBytes), shared);
      this.current = b;
    }
    b.used += n;
    b.users++;
    return b;
  }

  /** A chunk in `b` is finished: written, or dropped and no longer being written into. */
  release(b: ArenaBlock): void {
    if (b.users <= 0) throw new Error('EncodeArena.release: block has no users');
    b.users--;
  }

  private retire(b: ArenaBlock): void {
    if (b.buf.length === this.blockBytes && isShared(b) === this.wantShared() && this.spares.length < this.sparesMax) {
      this.spares.push(b);
    } else if (isShared(b)) {
      this.dropped(b.buf);
    }
  }

  private takeSpare(shared: boolean): ArenaBlock | null {
    for (let i = 0; i < this.spares.length; i++) {
      const b = this.spares[i];
      if (b.users === 0 && isShared(b) === shared) {
        this.spares.splice(i, 1);
        b.used = 0;
        return b;
      }
    }
    return null;
  }
}

function isShared(b: ArenaBlock): boolean {
  return b.buf.buffer instanceof SharedArrayBuffer;
}

function newBlock(bytes: number, shared: boolean): ArenaBlock {
  const buf = shared ? Buffer.from(new SharedArrayBuffer(bytes)) : Buffer.allocUnsafe(bytes);
  return { buf, view: new DataView(buf.buffer, buf.byteOffset, buf.byteLength), used: 0, users: 0 };
}
