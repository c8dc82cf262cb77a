// `<dir>/checkpoint`: what recovery must know that the records cannot tell it.
//  - flushedPos: the physical position up to which data was fdatasync'd. Recovery cuts a bad
//    record at or after it (a torn tail) but reports one before it as STORE_CORRUPT.
//  - firstIndex / prevTerm: the retention point (deleteBefore) and the term of firstIndex - 1.
// Two 64-byte slots written alternately (seq % 2), each with a CRC, so a torn write of one slot
// leaves the other. Writing a slot is a positional write; retention and truncation fsync it before
// they act, flush rounds only write it (the next round or close makes it durable), so after a
// power loss flushedPos may be behind (never ahead of) what was really flushed.
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { assert } from '../util/index.ts';
import { readU64, writeU64 } from './record.ts';

const CHECKPOINT_MAGIC = 0x524d5143; // "RMQC"
const SLOT_SIZE = 64;

export interface CheckpointState {
  readonly flushedPos: number;
  readonly firstIndex: number;
  readonly prevTerm: number;
}

export class Checkpoint {
  private seq: number;
  private constructor(
    readonly fd: number,
    seq: number,
    public state: CheckpointState,
  ) {
    this.seq = seq;
  }

  static open(dir: string): { checkpoint: Checkpoint; found: boolean } {
    const file = path.join(dir, 'checkpoint');
    const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    const buf = Buffer.alloc(SLOT_SIZE * 2);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    let best: { seq: number; state: CheckpointState } | null = null;
    for (let slot = 0; slot < 2; slot++) {
      const off = slot * SLOT_SIZE;
      if (off + SLOT_SIZE > n) continue;
      if (buf.readUInt32BE(off) !== CHECKPOINT_MAGIC) continue;
      if (crc32(buf.subarray(off, off + 60)) !== buf.readUInt32BE(off + 60)) continue;
      const seq = readU64(buf, off + 8);
      if (best !== null && best.seq >= seq) continue;
      best = {
        seq,
        state: { flushedPos: readU64(buf, off + 16), firstIndex: readU64(buf, off + 24), prevTerm: readU64(buf, off + 32) },
      };
    }
    if (best === null) {
      return { checkpoint: new Checkpoint(fd, 0, { flushedPos: 0, firstIndex: 1, prevTerm: 0 }), found: false };
    }
    return { checkpoint: new Checkpoint(fd, best.seq, best.state), found: true };
  }

  /** Writes the next slot (no fsync). */
  write(state: CheckpointState): void {
    assert(state.firstIndex >= 1 && state.flushedPos >= 0 && state.prevTerm >= 0, 'bad checkpoint state');
    this.seq++;
    const buf = Buffer.alloc(SLOT_SIZE);
    buf.writeUInt32BE(CHECKPOINT_MAGIC, 0);
    writeU64(buf, 8, this.seq);
    writeU64(buf, 16, state.flushedPos);
    writeU64(buf, 24, state.firstIndex);
    writeU64(buf, 32, state.prevTerm);
    buf.writeUInt32BE(crc32(buf.subarray(0, 60)), 60);
    fs.writeSync(this.fd, buf, 0, SLOT_SIZE, (this.seq % 2) * SLOT_SIZE);
    this.state = state;
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
