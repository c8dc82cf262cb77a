// Reading a frame's blobs (raw bytes after the msgpack part, ../net/frame-codec.ts), item by item.

/** Hands out a received frame's blobs in order, `size` bytes at a time (views, not copies): the
 *  reading side of a frame whose items each say how many blob bytes are theirs. */
export class BlobCursor {
  private pos = 0;

  constructor(private readonly blobs: Buffer) {}

  /** The next `size` bytes (`size` a non-negative integer), or undefined when fewer are left. */
  take(size: number): Buffer | undefined {
    if (size > this.blobs.length - this.pos) return undefined;
    const out = this.blobs.subarray(this.pos, this.pos + size);
    this.pos += size;
    return out;
  }

  /** Bytes not taken: a frame whose items are all read must have none. */
  get left(): number {
    return this.blobs.length - this.pos;
  }
}
