// Fuzz of the remoting decoder (like test/net/frame-codec.test.ts's of the native one): random
// bytes and mutated valid frames give whole commands or a RemotingDecodeError, never another
// exception; an oversized declared length is refused from its 4 bytes. SEED=<n> replays.
import t from 'tap';
import fc from 'fast-check';
import { remoting } from '../../src/protocol/index.ts';

const { RemotingDecoder, RemotingDecodeError, encodeRemotingCommand, SerializeType, REMOTING_FRAME_BYTES_MAX } = remoting;

const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
t.comment(`seed ${seed} (replay: SEED=${seed} npx tap test/protocol/remoting-fuzz.test.ts)`);

const FUZZ_FRAME_BYTES_MAX = 4096;

/** Whole commands must be well formed: the decoder never hands out half-checked fields. */
function wellFormed(cmd: remoting.DecodedRemotingCommand): boolean {
  const int32 = (v: number): boolean => Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff;
  const ints = [cmd.code, cmd.version, cmd.opaque, cmd.flag].every(int32) && Number.isInteger(cmd.language) && cmd.language >= 0 && cmd.language <= 0xff;
  const ext = Object.entries(cmd.extFields).every(([k, v]) => typeof k === 'string' && typeof v === 'string');
  return ints && ext && (cmd.remark === undefined || typeof cmd.remark === 'string') && (cmd.body === undefined || cmd.body.length > 0);
}

/** Feeds `chunks`; true when every command is well formed or the only exception is a
 *  RemotingDecodeError raised by one of the decoder's checks (not its 'unexpected' safety net). */
function feedSafely(chunks: Uint8Array[]): boolean {
  const decoder = new RemotingDecoder({ frameBytesMax: FUZZ_FRAME_BYTES_MAX });
  try {
    for (const c of chunks) if (!decoder.push(c).every(wellFormed)) return false;
  } catch (err) {
    return err instanceof RemotingDecodeError && err.reason !== 'unexpected';
  }
  return decoder.pendingBytes < FUZZ_FRAME_BYTES_MAX;
}

const text = fc.string({ maxLength: 12 });
const validFrameArb = fc
  .record({
    code: fc.integer({ min: 0, max: 400 }),
    opaque: fc.nat(),
    flag: fc.nat({ max: 3 }),
    remark: fc.option(text, { nil: undefined }),
    extFields: fc.dictionary(text, text, { maxKeys: 4 }),
    body: fc.uint8Array({ maxLength: 64 }),
    type: fc.constantFrom(SerializeType.JSON, SerializeType.ROCKETMQ),
  })
  .map(({ type, remark, body, ...rest }) =>
    encodeRemotingCommand({ ...rest, language: 0, version: 0, ...(remark ? { remark } : {}), ...(body.length > 0 ? { body: Buffer.from(body) } : {}) }, type),
  );

t.test('random bytes never crash the decoder', async () => {
  fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 80 }), { maxLength: 10 }), feedSafely), { seed, numRuns: 1000 });
});

t.test('random bytes behind a plausible prefix never crash the decoder', async () => {
  // Pure noise mostly fails at the length check; a small length and a JSON or ROCKETMQ type
  // byte reach the header parsers.
  const prefixed = fc.tuple(fc.integer({ min: 0, max: 200 }), fc.constantFrom(0, 1, 2, 0xff), fc.integer({ min: 0, max: 220 }), fc.uint8Array({ maxLength: 220 })).map(([len, type, headerLen, rest]) => {
    const b = Buffer.alloc(8 + rest.length);
    b.writeUInt32BE(len, 0);
    b.writeUInt32BE(((type << 24) | headerLen) >>> 0, 4);
    b.set(rest, 8);
    return b;
  });
  fc.assert(fc.property(fc.array(prefixed, { minLength: 1, maxLength: 4 }), feedSafely), { seed, numRuns: 1000 });
});

t.test('mutated valid frames (bytes overwritten, cut, spliced) give commands or a RemotingDecodeError', async () => {
  const mutation = fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) });
  fc.assert(
    fc.property(fc.array(validFrameArb, { minLength: 1, maxLength: 4 }), fc.array(mutation, { maxLength: 6 }), fc.nat(), fc.array(fc.nat(), { maxLength: 8 }), (frames, mutations, cutAt, chunkCuts) => {
      const wire = Buffer.concat(frames);
      for (const m of mutations) wire[m.at % wire.length] = m.value;
      const cut = wire.subarray(0, wire.length - (cutAt % 3 === 0 ? cutAt % wire.length : 0));
      const points = [...new Set(chunkCuts.map((c) => c % (cut.length + 1)))].sort((a, b) => a - b);
      const chunks: Buffer[] = [];
      let prev = 0;
      for (const p of points) {
        chunks.push(cut.subarray(prev, p));
        prev = p;
      }
      chunks.push(cut.subarray(prev));
      return feedSafely(chunks);
    }),
    { seed, numRuns: 1000 },
  );
});

t.test('a declared length over 16 MiB is refused from its 4 bytes, naming the size, before any body is buffered', async (t) => {
  for (const declared of [REMOTING_FRAME_BYTES_MAX - 3, 0x7fffffff, 0xffffffff]) {
    const decoder = new RemotingDecoder();
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(declared);
    t.throws(() => decoder.push(prefix), { name: 'RemotingDecodeError', reason: 'oversized', code: 'BAD_REQUEST', message: new RegExp(`${declared + 4} bytes exceeds the limit of 16777216`) });
    t.equal(decoder.pendingBytes, 0, 'nothing kept');
    t.throws(() => decoder.push(Buffer.alloc(8)), RemotingDecodeError, 'the decoder stays failed: the connection is closed');
  }
  // The largest frame allowed is only waited for: its declared length is within the limit.
  const atLimit = new RemotingDecoder();
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(REMOTING_FRAME_BYTES_MAX - 4);
  t.same(atLimit.push(prefix), []);
  t.equal(atLimit.pendingBytes, 4);
});

t.test('each malformed frame is refused with its reason', async (t) => {
  const frame = (length: number, word: number, rest: Buffer): Buffer => {
    const b = Buffer.alloc(8);
    b.writeUInt32BE(length, 0);
    b.writeUInt32BE(word >>> 0, 4);
    return Buffer.concat([b, rest]);
  };
  const json = Buffer.from('{"code":1}');
  const cases: [string, Buffer, string, RegExp][] = [
    ['a length too short for the header length word', frame(2, 0, Buffer.alloc(0)).subarray(0, 6), 'malformed', /no room/],
    ['a header length past the frame', frame(4 + json.length, json.length + 1, json), 'malformed', /exceeds the 10 bytes/],
    ['serialize type 2', frame(4 + json.length, (2 << 24) | json.length, json), 'unknown-serialize-type', /serialize type 2/],
    ['JSON that does not parse', frame(4 + 3, 3, Buffer.from('{"c')), 'malformed', /does not parse/],
    ['a JSON array', frame(4 + 2, 2, Buffer.from('[]')), 'malformed', /not a JSON object/],
    ['a JSON header without code', frame(4 + 2, 2, Buffer.from('{}')), 'malformed', /no code/],
    ['a fractional opaque', frame(4 + 23, 23, Buffer.from('{"code":1,"opaque":1.5}')), 'malformed', /opaque that is not an int32/],
    ['an extFields value that is an object', frame(4 + 31, 31, Buffer.from('{"code":1,"extFields":{"a":{}}}')), 'malformed', /extFields.a/],
    ['a ROCKETMQ header shorter than its fixed part', frame(4 + 5, (1 << 24) | 5, Buffer.alloc(5)), 'malformed', /shorter than its fixed 21/],
  ];
  // A ROCKETMQ header whose remark length points past it.
  const rmq = encodeRemotingCommand({ code: 1, language: 0, version: 0, opaque: 0, flag: 0, remark: 'ab', extFields: {} }, SerializeType.ROCKETMQ);
  rmq.writeInt32BE(1000, 8 + 13);
  cases.push(['a remark length past the header', rmq, 'malformed', /remark length of 1000/]);
  const rmqExt = encodeRemotingCommand({ code: 1, language: 0, version: 0, opaque: 0, flag: 0, extFields: { k: 'v' } }, SerializeType.ROCKETMQ);
  rmqExt.writeInt16BE(-1, 8 + 21); // the key length
  cases.push(['a negative extFields key length', rmqExt, 'malformed', /key length of -1/]);
  for (const [what, bytes, reason, message] of cases) {
    t.throws(() => new RemotingDecoder().push(bytes), { name: 'RemotingDecodeError', reason, message }, what);
  }
});
