// RocketMQ remoting frames: hand-derived bytes for both header serialize types (each byte's
// origin in RemotingCommand.encode / RocketMQSerializable.rocketMQProtocolEncode commented), and
// round trips of arbitrary commands fed in arbitrary chunks. SEED=<n> replays the properties.
import t from 'tap';
import fc from 'fast-check';
import { remoting } from '../../src/protocol/index.ts';

const { RemotingDecoder, encodeRemotingCommand, SerializeType, RequestCode, ResponseCode, LanguageCode, REMOTING_FRAME_BYTES_MAX } = remoting;
type RemotingCommand = remoting.RemotingCommand;

const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
t.comment(`seed ${seed} (replay: SEED=${seed} npx tap test/protocol/remoting-codec.test.ts)`);

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ascii = (s: string): Buffer => Buffer.from(s, 'utf8');

/** A command as plain data, for deep comparison (extFields decode as null-prototype objects). */
function plain(cmd: RemotingCommand): object {
  return {
    code: cmd.code,
    language: cmd.language,
    version: cmd.version,
    opaque: cmd.opaque,
    flag: cmd.flag,
    remark: cmd.remark,
    extFields: { ...cmd.extFields },
    body: cmd.body?.toString('hex'),
  };
}

function decodeOne(frame: Buffer): remoting.DecodedRemotingCommand {
  const decoder = new RemotingDecoder();
  const got = decoder.push(frame);
  if (got.length !== 1 || decoder.pendingBytes !== 0) throw new Error(`expected one whole command, got ${got.length}`);
  return got[0];
}

// The Java client's GET_ROUTEINFO_BY_TOPIC for topic T (version 399 = V4_9_x's ordinal is what
// the client puts there; any value is carried as is).
const routeRequest: RemotingCommand = { code: RequestCode.GET_ROUTEINFO_BY_TOPIC, language: LanguageCode.JAVA, version: 399, opaque: 1, flag: 0, extFields: { topic: 'T' } };
// The NameServer's answer when it has no route: TOPIC_NOT_EXIST with a remark, no body.
const noRouteResponse: RemotingCommand = {
  code: ResponseCode.TOPIC_NOT_EXIST,
  language: LanguageCode.JAVA,
  version: 399,
  opaque: 1,
  flag: 1,
  remark: 'No topic route info in name server for the topic: T',
  extFields: {},
};

t.test('JSON (type 0) frames are what Java writes, byte for byte', async (t) => {
  // fastjson writes RemotingCommand's getters in alphabetical order, the language enum by name,
  // serializeTypeCurrentRPC, and leaves out null fields (remark of a request, empty extFields).
  const requestHeader = '{"code":105,"extFields":{"topic":"T"},"flag":0,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":399}';
  const request = Buffer.concat([
    hex('0000007f'), // length: 4 (header length word) + 123 (header) + 0 (no body) = 127
    hex('00 00007b'), // serialize type JSON (0) << 24 | header length 123
    ascii(requestHeader),
  ]);
  t.equal(requestHeader.length, 0x7b);
  t.same(encodeRemotingCommand(routeRequest, SerializeType.JSON), request);
  t.same(plain(decodeOne(request)), plain(routeRequest));
  t.equal(decodeOne(request).serializeType, SerializeType.JSON);

  const responseHeader =
    '{"code":17,"flag":1,"language":"JAVA","opaque":1,"remark":"No topic route info in name server for the topic: T","serializeTypeCurrentRPC":"JSON","version":399}';
  const response = Buffer.concat([
    hex('000000a3'), // 4 + 159
    hex('00 00009f'), // JSON, header length 159
    ascii(responseHeader),
  ]);
  t.equal(responseHeader.length, 0x9f);
  t.same(encodeRemotingCommand(noRouteResponse), response, 'JSON is the default');
  const decoded = decodeOne(response);
  t.same(plain(decoded), plain(noRouteResponse));
  t.ok(remoting.isResponse(decoded));
  t.notOk(remoting.isOneway(decoded));
});

t.test('ROCKETMQ (type 1) frames are what RocketMQSerializable writes, byte for byte', async (t) => {
  const request = hex(`
    00000025   ${'' /* length: 4 + 33 (header) = 37 */}
    01 000021  ${'' /* serialize type ROCKETMQ (1) << 24 | header length 33 = 21 fixed + 12 extFields */}
    0069       ${'' /* int16 code 105 */}
    00         ${'' /* byte language JAVA */}
    018f       ${'' /* int16 version 399 */}
    00000001   ${'' /* int32 opaque 1 */}
    00000000   ${'' /* int32 flag 0: a request */}
    00000000   ${'' /* int32 remark length 0: no remark */}
    0000000c   ${'' /* int32 extFields length 12 = 2 + 5 + 4 + 1 */}
    0005 746f706963  ${'' /* int16 key length 5, "topic" */}
    00000001 54      ${'' /* int32 value length 1, "T" */}
  `);
  t.same(encodeRemotingCommand(routeRequest, SerializeType.ROCKETMQ), request);
  const decodedRequest = decodeOne(request);
  t.same(plain(decodedRequest), plain(routeRequest));
  t.equal(decodedRequest.serializeType, SerializeType.ROCKETMQ);

  const okResponse: RemotingCommand = { code: ResponseCode.SUCCESS, language: LanguageCode.JAVA, version: 399, opaque: 1, flag: 1, remark: 'ok', extFields: {}, body: ascii('{}') };
  const response = hex(`
    0000001d   ${'' /* length: 4 + 23 (header) + 2 (body) = 29 */}
    01 000017  ${'' /* ROCKETMQ, header length 23 = 21 fixed (2+1+2+4+4 and the two int32 lengths) + 2 remark */}
    0000       ${'' /* code SUCCESS */}
    00         ${'' /* JAVA */}
    018f       ${'' /* version 399 */}
    00000001   ${'' /* opaque 1, the request's */}
    00000001   ${'' /* flag: bit 0, a response */}
    00000002 6f6b  ${'' /* remark length 2, "ok" */}
    00000000   ${'' /* extFields length 0: none */}
    7b7d       ${'' /* body "{}" */}
  `);
  t.same(encodeRemotingCommand(okResponse, SerializeType.ROCKETMQ), response);
  t.same(plain(decodeOne(response)), plain(okResponse));
});

/** A JSON-type frame around `header` text, built by hand (not with the encoder under test). */
function jsonFrame(header: string, body: Buffer = Buffer.alloc(0)): Buffer {
  const h = ascii(header);
  const prefix = Buffer.alloc(8);
  prefix.writeInt32BE(4 + h.length + body.length, 0);
  prefix.writeInt32BE(h.length, 4); // serialize type JSON: top byte 0
  return Buffer.concat([prefix, h, body]);
}

t.test('JSON headers as other clients write them: any field order, unknown fields, numeric extFields, defaults', async (t) => {
  // ali-ons: its own order, version 121, extFields values as JSON numbers, no serializeTypeCurrentRPC.
  const cmd = decodeOne(jsonFrame('{"code":310,"language":"JAVA","opaque":42,"flag":0,"version":121,"extFields":{"a":"PG","b":"T","e":0,"j":0,"m":false,"n":null}}'));
  t.same(plain(cmd), plain({ code: 310, language: 0, version: 121, opaque: 42, flag: 0, extFields: { a: 'PG', b: 'T', e: '0', j: '0', m: 'false' } }), 'null values are fields not set');
  t.equal(cmd.body, undefined);

  const odd = decodeOne(jsonFrame('{"flag":2,"futureField":[1,2],"code":34,"language":"COBOL","serializeTypeCurrentRPC":"JSON"}', ascii('xy')));
  t.equal(odd.language, LanguageCode.OTHER, 'an unknown language name reads as OTHER');
  t.equal(odd.opaque, 0, 'a missing opaque takes Java’s default');
  t.ok(remoting.isOneway(odd));
  t.equal(odd.body?.toString(), 'xy');
  t.equal(decodeOne(jsonFrame('{"code":34,"language":9}')).language, LanguageCode.GO, 'a language as its number');
});

t.test('an extFields key "__proto__" is an ordinary field in both header types', async (t) => {
  const extFields = JSON.parse('{"__proto__":"x","topic":"T"}') as Record<string, string>;
  for (const type of [SerializeType.JSON, SerializeType.ROCKETMQ]) {
    const cmd = decodeOne(encodeRemotingCommand({ ...routeRequest, extFields }, type));
    t.equal(Object.getPrototypeOf(cmd.extFields), null);
    t.same(Object.entries(cmd.extFields), [['__proto__', 'x'], ['topic', 'T']]);
  }
});

t.test('fields that do not fit their width are refused when encoding, never truncated', async (t) => {
  t.throws(() => encodeRemotingCommand({ ...routeRequest, code: 40000 }, SerializeType.ROCKETMQ), RangeError, 'code is an int16 in ROCKETMQ');
  t.ok(encodeRemotingCommand({ ...routeRequest, code: 40000 }, SerializeType.JSON), 'and an int in JSON');
  t.throws(() => encodeRemotingCommand({ ...routeRequest, opaque: 2 ** 31 }), RangeError);
  t.throws(() => encodeRemotingCommand({ ...routeRequest, extFields: { ['k'.repeat(40000)]: 'v' } }, SerializeType.ROCKETMQ), RangeError);
  t.throws(() => encodeRemotingCommand({ ...routeRequest, body: Buffer.alloc(REMOTING_FRAME_BYTES_MAX) }), /exceeds the limit of 16777216/);
});

const int16 = fc.integer({ min: -0x8000, max: 0x7fff });
const int32 = fc.integer({ min: -0x80000000, max: 0x7fffffff });
const text = fc.string({ unit: 'grapheme', maxLength: 30 });
const commandArb: fc.Arbitrary<RemotingCommand> = fc
  .record({
    code: int16,
    language: fc.integer({ min: 0, max: 13 }),
    version: int16,
    opaque: int32,
    flag: int32,
    remark: fc.option(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }), { nil: undefined }),
    extFields: fc.dictionary(text, text, { maxKeys: 6 }),
    body: fc.option(fc.uint8Array({ minLength: 1, maxLength: 200 }).map((u) => Buffer.from(u)), { nil: undefined }),
  })
  .map(({ remark, body, ...rest }) => ({ ...rest, ...(remark === undefined ? {} : { remark }), ...(body === undefined ? {} : { body }) }));
const typeArb = fc.constantFrom(SerializeType.JSON, SerializeType.ROCKETMQ);

/** Splits `buf` at the given cut points. */
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

t.test('arbitrary commands encode and decode to themselves in both header types', async (t) => {
  fc.assert(
    fc.property(commandArb, typeArb, (cmd, type) => {
      const got = decodeOne(encodeRemotingCommand(cmd, type));
      t.same(plain(got), plain(cmd));
      return got.serializeType === type;
    }),
    { seed, numRuns: 500 },
  );
});

t.test('commands fed at arbitrary chunk boundaries decode to the same commands', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.tuple(commandArb, typeArb), { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 40 }), (items, cuts) => {
      const wire = Buffer.concat(items.map(([cmd, type]) => encodeRemotingCommand(cmd, type)));
      const decoder = new RemotingDecoder();
      const got = splitAt(wire, cuts).flatMap((chunk) => decoder.push(chunk));
      t.same(got.map(plain), items.map(([cmd]) => plain(cmd)));
      return decoder.pendingBytes === 0 && got.every((g, i) => g.serializeType === items[i][1]);
    }),
    { seed, numRuns: 300 },
  );
});

t.test('a body inside one chunk is a view of that chunk (no copy)', async (t) => {
  const wire = encodeRemotingCommand({ ...routeRequest, body: Buffer.alloc(1000, 7) });
  const cmd = decodeOne(wire);
  t.equal(cmd.body?.buffer, wire.buffer);
});
