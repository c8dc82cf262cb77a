import t from 'tap';
import fc from 'fast-check';
import {
  BIG_FRAME_FIRST_BYTES,
  FrameDecoder,
  encodeFrame,
  encodeFrameWithBlobs,
  FRAME_HEADER_BYTES,
  FrameError,
} from '../../src/net/index.ts';

const bytesArb = fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u));
const valueArb = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  bytesArb,
  fc.dictionary(fc.string().filter((k) => k !== '__proto__'), fc.string(), { maxKeys: 3 }),
);
const frameArb = fc.record({
  type: fc.string({ minLength: 1, maxLength: 12 }),
  id: fc.nat(),
  body: bytesArb,
  extra: fc.array(valueArb, { maxLength: 4 }),
});

/** Splits `buf` at the given (sorted, deduplicated) cut points. */
function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

t.test('frames split at arbitrary chunk boundaries decode to the same frames', async (t) => {
  fc.assert(
    fc.property(fc.array(frameArb, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), (frames, cuts) => {
      const wire = Buffer.concat(frames.map((f) => encodeFrame(f)));
      const decoder = new FrameDecoder();
      const got = splitAt(wire, cuts).flatMap((c) => decoder.push(c));
      t.same(got, frames);
      for (const f of got) if (!Buffer.isBuffer((f as unknown as { body: unknown }).body)) return false;
      return decoder.pendingBytes === 0;
    }),
    { numRuns: 300 },
  );
});

t.test('a body inside one chunk decodes as a view of that chunk (no copy)', async (t) => {
  const body = Buffer.alloc(1000, 7);
  const wire = encodeFrame({ type: 'send', id: 1, body });
  const [frame] = new FrameDecoder().push(wire) as unknown as [{ body: Buffer }];
  t.ok(Buffer.isBuffer(frame.body));
  t.equal(frame.body.buffer, wire.buffer, 'shares the chunk memory');
  t.ok(frame.body.equals(body));
});

t.test('an oversized length is refused from its header, before its body is buffered', async (t) => {
  const decoder = new FrameDecoder({ frameBytesMax: 1024 });
  const header = Buffer.alloc(4);
  header.writeUInt32BE(1025);
  t.throws(() => decoder.push(header), { name: 'FrameError', reason: 'oversized', code: 'BAD_REQUEST' });
  t.equal(decoder.pendingBytes, 0);
  t.throws(() => decoder.push(Buffer.alloc(10)), FrameError, 'poisoned after an error');
  t.throws(() => encodeFrame({ type: 'x', id: 1, body: Buffer.alloc(2000) }, 1024), FrameError);
});

t.test('non-frame msgpack values and garbage are malformed', async (t) => {
  const bad = [
    Buffer.from([0xc1]), // never-used byte
    Buffer.from([0x93, 1]), // truncated array
    Buffer.from([0x01, 0x02]), // trailing bytes
    Buffer.from([0xd4, 0x05, 0x01]), // unknown extension
    Buffer.from([0x2a]), // a number, not an object
    Buffer.from([0x81, 0xa4, 0x74, 0x79, 0x70, 0x65, 0x01]), // {type: 1}
    Buffer.alloc(0),
  ];
  for (const body of bad) {
    const header = Buffer.alloc(FRAME_HEADER_BYTES);
    header.writeUInt32BE(body.length);
    t.throws(
      () => new FrameDecoder().push(Buffer.concat([header, body])),
      { name: 'FrameError', reason: 'malformed', code: 'BAD_REQUEST' },
      body.toString('hex'),
    );
  }
});

t.test('arbitrary garbage either decodes to well-formed frames or throws FrameError, never anything else', async () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 10 }),
      fc.option(fc.tuple(frameArb, fc.nat()), { nil: undefined }),
      (chunks, prefix) => {
        const decoder = new FrameDecoder({ frameBytesMax: 4096 });
        const all: Buffer[] = chunks.map((c) => Buffer.from(c));
        if (prefix) {
          const enc = encodeFrame(prefix[0]);
          all.unshift(enc.subarray(0, prefix[1] % (enc.length + 1))); // truncated valid frame
        }
        try {
          for (const c of all) {
            for (const f of decoder.push(c)) {
              if (typeof f.type !== 'string' || typeof f.id !== 'number') return false;
            }
          }
        } catch (err) {
          return err instanceof FrameError;
        }
        return decoder.pendingBytes <= 4096 + 64 + 4;
      },
    ),
    { numRuns: 500 },
  );
});

t.test('many small chunks of one big frame decode in linear time', async (t) => {
  const body = Buffer.alloc(4 * 1024 * 1024, 1);
  const wire: Buffer = encodeFrame({ type: 'send', id: 9, body });
  const decoder = new FrameDecoder();
  const started = performance.now();
  let frames = 0;
  for (let i = 0; i < wire.length; i += 1024) frames += decoder.push(wire.subarray(i, i + 1024)).length;
  t.equal(frames, 1);
  t.ok(performance.now() - started < 2000, 'no quadratic concatenation');
});

t.test('frames with raw blobs, mixed with plain frames and split anywhere, decode to the same frames and bytes', async (t) => {
  const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
  t.comment(`seed ${seed} (replay: SEED=${seed} npx tap test/net/frame-codec.test.ts)`);
  const blobsArb = fc.array(bytesArb, { maxLength: 5 });
  fc.assert(
    fc.property(fc.array(fc.tuple(frameArb, fc.option(blobsArb)), { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 30 }), (items, cuts) => {
      const wire = Buffer.concat(items.flatMap(([f, blobs]) => (blobs === null ? [encodeFrame(f)] : encodeFrameWithBlobs(f, blobs))));
      const decoder = new FrameDecoder();
      const got = splitAt(wire, cuts).flatMap((c) => decoder.push(c));
      if (got.length !== items.length) return false;
      return items.every(([f, blobs], i) => {
        const g = got[i] as unknown as typeof f & { blobs?: Buffer };
        const sameFrame = g.type === f.type && g.id === f.id && Buffer.compare(g.body, f.body) === 0;
        if (blobs === null) return sameFrame && g.blobs === undefined;
        return sameFrame && g.blobs !== undefined && Buffer.compare(g.blobs, Buffer.concat(blobs)) === 0;
      });
    }),
    { seed },
  );
});

t.test('the blobs are sent as they are (not copied) and a frame with blobs obeys the size limit', async (t) => {
  const blob = Buffer.alloc(1000, 3);
  const parts = encodeFrameWithBlobs({ type: 'raft', id: 0 }, [blob]);
  t.equal(parts[1], blob, 'the blob itself is one of the parts');
  t.throws(() => encodeFrameWithBlobs({ type: 'raft', id: 0 }, [blob], 500), FrameError);
  const decoder = new FrameDecoder({ frameBytesMax: 500 });
  t.throws(() => decoder.push(Buffer.concat(encodeFrameWithBlobs({ type: 'raft', id: 0 }, [blob]))), /exceeds the limit/);
});

t.test('a frame with blobs whose msgpack length points past its body is refused', async (t) => {
  const parts = encodeFrameWithBlobs({ type: 'raft', id: 0 }, [Buffer.alloc(10)]);
  const wire = Buffer.concat(parts);
  wire.writeUInt32BE(wire.length, FRAME_HEADER_BYTES); // the msgpack part "is" longer than the body
  t.throws(() => new FrameDecoder().push(wire), /msgpack part/);
});

/** Feeds `wire` through readRegion()/filled() as a socket with `onread` would: each read fills at
 *  most the region offered, and at most the next size drawn. */
function readThrough(decoder: FrameDecoder, wire: Buffer, readSizes: number[]): unknown[] {
  const frames: unknown[] = [];
  let off = 0;
  let i = 0;
  while (off < wire.length) {
    const region = decoder.readRegion();
    const n = Math.min(region.length, wire.length - off, 1 + (readSizes[i++ % Math.max(1, readSizes.length)] ?? region.length));
    wire.copy(region, 0, off, off + n);
    off += n;
    frames.push(...decoder.filled(n));
  }
  return frames;
}

t.test('frames read straight into the decoder (readRegion/filled), small and large, decode to the same frames and stay intact', async (t) => {
  const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
  t.comment(`seed ${seed} (replay: SEED=${seed} npx tap test/net/frame-codec.test.ts)`);
  // Bodies around and beyond the 64 KiB slab, so frames move between slabs and get buffers of their own.
  const bigBodyArb = fc.integer({ min: 1, max: 200_000 }).map((n) => Buffer.alloc(n, n % 251));
  const itemArb = fc.tuple(frameArb, fc.option(fc.array(fc.oneof({ weight: 4, arbitrary: bytesArb }, { weight: 1, arbitrary: bigBodyArb }), { maxLength: 3 })));
  fc.assert(
    fc.property(fc.array(itemArb, { maxLength: 12 }), fc.array(fc.integer({ min: 0, max: 100_000 }), { maxLength: 20 }), (items, readSizes) => {
      const wire = Buffer.concat(items.flatMap(([f, blobs]) => (blobs === null ? [encodeFrame(f)] : encodeFrameWithBlobs(f, blobs))));
      const decoder = new FrameDecoder();
      const got = readThrough(decoder, wire, readSizes);
      // Compared only after every read: a later read that overwrote an earlier frame's bytes fails here.
      if (got.length !== items.length || decoder.pendingBytes !== 0) return false;
      return items.every(([f, blobs], i) => {
        const g = got[i] as typeof f & { blobs?: Buffer };
        const sameFrame = g.type === f.type && g.id === f.id && Buffer.compare(g.body, f.body) === 0;
        if (blobs === null) return sameFrame && g.blobs === undefined;
        return sameFrame && g.blobs !== undefined && Buffer.compare(g.blobs, Buffer.concat(blobs)) === 0;
      });
    }),
    { seed, numRuns: 200 },
  );
  t.pass('property held');
});

t.test('a frame read in many pieces is one view of one buffer of its size (never reassembled)', async (t) => {
  const body = Buffer.alloc(300_000, 5);
  const wire = Buffer.concat(encodeFrameWithBlobs({ type: 'raft', id: 3 }, [body]));
  const decoder = new FrameDecoder();
  const [frame] = readThrough(decoder, wire, [1000, 7, 40_000]) as [{ blobs: Buffer }];
  t.ok(frame.blobs.equals(body));
  t.equal(frame.blobs.buffer.byteLength, wire.length, 'the buffer holds exactly this frame');
});

t.test('readRegion/filled: an oversized length is refused from its header, then the decoder stays poisoned', async (t) => {
  const decoder = new FrameDecoder({ frameBytesMax: 1024 });
  const region = decoder.readRegion();
  t.ok(region.length >= FRAME_HEADER_BYTES);
  region.writeUInt32BE(1025, 0);
  t.throws(() => decoder.filled(FRAME_HEADER_BYTES), { name: 'FrameError', reason: 'oversized' });
  t.equal(decoder.pendingBytes, 0);
  t.ok(decoder.readRegion().length > 0, 'still hands out a region, so the socket read completes');
  t.throws(() => decoder.filled(1), FrameError, 'poisoned after an error');
  t.throws(() => new FrameDecoder().filled(1 << 30), RangeError, 'more than the region offered');
});

t.test('a length prefix alone reserves at most BIG_FRAME_FIRST_BYTES; a frame beyond it grows as its bytes arrive', async (t) => {
  const decoder = new FrameDecoder(); // frameBytesMax 16 MiB
  const claim = Buffer.alloc(FRAME_HEADER_BYTES + 100);
  claim.writeUInt32BE(15 * 1024 * 1024, 0); // a 15 MiB frame, of which 100 bytes are sent
  readThrough(decoder, claim, [1 << 20]);
  const region = decoder.readRegion();
  t.ok(region.buffer.byteLength <= BIG_FRAME_FIRST_BYTES, `reserved ${region.buffer.byteLength} bytes for 104 received`);

  // A frame of several MiB read in 64 KiB pieces still decodes whole, its blob intact.
  const body = Buffer.alloc(3_500_000);
  for (let i = 0; i < body.length; i += 4096) body[i] = (i / 4096) % 251;
  const wire = Buffer.concat([...encodeFrameWithBlobs({ type: 'raft', id: 5 }, [body]), encodeFrame({ type: 'after', id: 6 })]);
  const got = readThrough(new FrameDecoder(), wire, [65_536]) as Array<{ id: number; blobs?: Buffer }>;
  t.same(got.map((f) => f.id), [5, 6]);
  t.ok(got[0].blobs!.equals(body), 'the 3.5 MB blob byte for byte');
});

t.test('push: frames after the end of a pending one are views of the chunk, not copies', async (t) => {
  const a = encodeFrame({ type: 'a', id: 1, body: Buffer.alloc(500, 1) });
  const b = encodeFrame({ type: 'b', id: 2, body: Buffer.alloc(500, 2) });
  const decoder = new FrameDecoder();
  t.same(decoder.push(Buffer.from(a.subarray(0, 100))), []);
  const chunk = Buffer.concat([a.subarray(100), b]);
  const [fa, fb] = decoder.push(chunk) as unknown as [{ body: Buffer }, { body: Buffer }];
  t.ok(fa.body.equals(Buffer.alloc(500, 1)));
  t.ok(fb.body.equals(Buffer.alloc(500, 2)));
  t.equal(fb.body.buffer, chunk.buffer, 'b shares the chunk memory');
  t.equal(decoder.pendingBytes, 0);
});
