// fastjson bodies: the reader takes what Java's fastjson writes (unquoted numeric and object map
// keys, longs past 2^53), the writer writes those quirks back; on plain JSON both agree with
// JSON.parse / JSON.stringify. SEED=<n> replays the properties.
import t from 'tap';
import fc from 'fast-check';
import { remoting } from '../../src/protocol/index.ts';

const { parseFastjson, stringifyFastjson, FASTJSON_DEPTH_MAX } = remoting;

const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
t.comment(`seed ${seed} (replay: SEED=${seed} npx tap test/protocol/remoting-fastjson.test.ts)`);

/** Parsed values as plain data (null-prototype objects and bigints are what differ from JSON.parse). */
function plain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'bigint') return `bigint:${v}`;
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

t.test("TopicRouteData as fastjson writes it: brokerAddrs' Long keys unquoted", async (t) => {
  const text =
    '{"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:10911",1:"127.0.0.1:10912"},"brokerName":"broker-a","cluster":"DefaultCluster"}],' +
    '"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}';
  t.throws(() => JSON.parse(text), SyntaxError, 'not JSON');
  const route = plain(parseFastjson(text)) as { brokerDatas: { brokerAddrs: Record<string, string> }[]; queueDatas: { perm: number }[] };
  t.same(route.brokerDatas[0].brokerAddrs, { '0': '127.0.0.1:10911', '1': '127.0.0.1:10912' });
  t.equal(route.queueDatas[0].perm, 6);
});

t.test('ConsumeStats as fastjson writes it: MessageQueue keys as objects, longs past 2^53 as bigint', async (t) => {
  const text =
    '{"consumeTps":0.0,"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:{"brokerOffset":9223372036854775807,"consumerOffset":7,"lastTimestamp":1700000000000}}}';
  const stats = parseFastjson(text) as { consumeTps: number; offsetTable: Record<string, { brokerOffset: bigint; consumerOffset: number }> };
  t.equal(stats.consumeTps, 0);
  const [[key, wrapper]] = Object.entries(stats.offsetTable);
  t.same(JSON.parse(key), { brokerName: 'broker-a', queueId: 0, topic: 'T' }, 'the key is its JSON text');
  t.equal(wrapper.brokerOffset, 9223372036854775807n);
  t.equal(wrapper.consumerOffset, 7);
});

t.test('the writer writes the same quirks, and the reader reads them back', async (t) => {
  const mq = { brokerName: 'broker-a', queueId: 0, topic: 'T' };
  const body = {
    brokerAddrs: new Map([
      [0, '127.0.0.1:10911'],
      [1, '127.0.0.1:10912'],
    ]),
    offsetTable: new Map([[mq, { brokerOffset: 2n ** 63n - 1n, consumerOffset: 7 }]]),
    remark: null,
    skipped: undefined,
    data: Buffer.from('hi'),
    set: new Set(['a']),
  };
  const text = stringifyFastjson(body);
  t.equal(
    text,
    '{"brokerAddrs":{0:"127.0.0.1:10911",1:"127.0.0.1:10912"},' +
      '"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:{"brokerOffset":9223372036854775807,"consumerOffset":7}},' +
      '"data":"aGk=","set":["a"]}',
    'null fields left out, byte[] as base64',
  );
  const back = parseFastjson(text) as { brokerAddrs: Record<string, string>; offsetTable: Record<string, { brokerOffset: bigint }> };
  t.equal(back.brokerAddrs['1'], '127.0.0.1:10912');
  t.equal(back.offsetTable[JSON.stringify(mq)].brokerOffset, 2n ** 63n - 1n);
  t.throws(() => stringifyFastjson({ x: Number.NaN }), RangeError);
});

t.test('malformed text is a SyntaxError with its offset, never anything else', async (t) => {
  for (const bad of ['', '{', '{"a":1,}', '{a:1}', '[1 2]', '"abc', '"\\x"', '{"a":1} x', '01', '-', 'tru', '{1}', '{"a" 1}']) {
    t.throws(() => parseFastjson(bad), { name: 'SyntaxError', message: /^fastjson: .* at offset \d+$/ }, JSON.stringify(bad));
  }
  const deep = '['.repeat(FASTJSON_DEPTH_MAX + 2) + ']'.repeat(FASTJSON_DEPTH_MAX + 2);
  t.throws(() => parseFastjson(deep), /nesting deeper than 64/, 'a hostile depth does not exhaust the stack');
  t.same(plain(parseFastjson('['.repeat(FASTJSON_DEPTH_MAX) + ']'.repeat(FASTJSON_DEPTH_MAX))), JSON.parse('['.repeat(FASTJSON_DEPTH_MAX) + ']'.repeat(FASTJSON_DEPTH_MAX)));
});

t.test('on standard JSON the reader agrees with JSON.parse', async () => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.constantFrom(undefined, 2), (value, indent) => {
      const text = JSON.stringify(value, null, indent);
      const ours = JSON.stringify(plain(parseFastjson(text)), (_k, v: unknown) => (typeof v === 'string' && v.startsWith('bigint:') ? Number(v.slice(7)) : v));
      return ours === JSON.stringify(JSON.parse(text));
    }),
    { seed, numRuns: 300 },
  );
});

t.test('on plain values the writer agrees with JSON.stringify, null object fields left out', async () => {
  const dropNullFields = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(dropNullFields);
    if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null).map(([k, x]) => [k, dropNullFields(x)]));
    return v;
  };
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 5 }), (value) => stringifyFastjson(value) === JSON.stringify(dropNullFields(value))),
    { seed, numRuns: 300 },
  );
});
