import t from 'tap';
import fc from 'fast-check';
import {
  type BrokerCommand,
  COMMAND_VERSION,
  COMMIT_OFFSETS_COUNT_MAX,
  commandKindOf,
  decodeCommand,
  encodeCommand,
  validateCommand,
  validateMessages,
  validateQueueCount,
  validateTopicName,
  validateProducerSeq,
  CommandDecodeError,
} from '../../src/broker/index.ts';
import {
  MESSAGE_BODY_BYTES_MAX,
  MESSAGE_TAGS_BYTES_MAX,
  SEND_BATCH_BYTES_MAX,
  SEND_BATCH_COUNT_MAX,
  TOPIC_NAME_LENGTH_MAX,
  TOPIC_QUEUE_COUNT_MAX,
} from '../../src/protocol/index.ts';
import { arbCommand } from './arbitraries.ts';
import { brokerErrorCode } from './harness.ts';

/** Bodies become hex so Buffer and Uint8Array compare equal. */
function normalize(cmd: BrokerCommand): unknown {
  if (cmd.kind !== 'sendBatch') return cmd;
  return { ...cmd, messages: cmd.messages.map((m) => ({ ...m, body: Buffer.from(m.body).toString('hex') })) };
}

t.test('every command survives encode then decode unchanged', async (t) => {
  fc.assert(
    fc.property(arbCommand(), (cmd) => {
      const bytes = encodeCommand(cmd);
      t.equal(bytes[0], COMMAND_VERSION);
      t.equal(commandKindOf(bytes), cmd.kind);
      const back = decodeCommand(bytes);
      t.same(normalize(back), normalize(cmd));
      t.same(encodeCommand(back), bytes, 're-encoding gives the same bytes');
      validateCommand(back);
    }),
    { numRuns: 200 },
  );
});

t.test('absent optional message fields stay absent, and properties keep order', async (t) => {
  const cmd: BrokerCommand = {
    kind: 'sendBatch',
    topic: 'T',
    queueId: 0,
    storeTimestamp: 1,
    autoCreateQueues: 4,
    messages: [{ body: Uint8Array.of(1) }, { body: Uint8Array.of(2), tags: 'a' }, { body: Uint8Array.of(3), properties: { z: '1', a: '2', __proto__x: '3' } }],
  };
  const back = decodeCommand(encodeCommand(cmd));
  t.ok(back.kind === 'sendBatch');
  if (back.kind !== 'sendBatch') return;
  t.same(Object.keys(back.messages[0]), ['body']);
  t.same(Object.keys(back.messages[1]), ['body', 'tags']);
  t.same(Object.keys(back.messages[2].properties ?? {}), ['z', 'a', '__proto__x']);
});

t.test('a send entry is compact: a few bytes of overhead per message', async (t) => {
  const messages = Array.from({ length: 100 }, () => ({ body: new Uint8Array(100) }));
  const bytes = encodeCommand({ kind: 'sendBatch', topic: 'TopicTest', queueId: 3, storeTimestamp: Date.now(), autoCreateQueues: 4, messages });
  t.ok(bytes.length < 100 * 100 + 100 * 5 + 40, `${bytes.length} bytes`);
});

t.test('decoding garbage throws CommandDecodeError, never anything else', async (t) => {
  const cases: [string, Uint8Array][] = [
    ['empty', new Uint8Array(0)],
    ['header only of a send', Uint8Array.of(COMMAND_VERSION, 1)],
    ['unknown version', Uint8Array.of(99, 0)],
    ['unknown kind', Uint8Array.of(COMMAND_VERSION, 77)],
    ['noop with a body', Uint8Array.of(COMMAND_VERSION, 0, 1)],
    ['truncated send', encodeCommand({ kind: 'createTopic', topic: 'abc', queues: 4 }).subarray(0, 5)],
    ['wrong field types', Uint8Array.of(COMMAND_VERSION, 2, 0x92, 0x01, 0xa1, 0x61)],
  ];
  for (const [what, bytes] of cases) t.throws(() => decodeCommand(bytes), CommandDecodeError, what);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 0, max: 3 }), (tail, kind) => {
      const bytes = Uint8Array.from([COMMAND_VERSION, kind, ...tail]);
      try {
        decodeCommand(bytes);
      } catch (err) {
        t.ok(err instanceof CommandDecodeError);
      }
    }),
    { numRuns: 500 },
  );
});


t.test('topic names follow RocketMQ rules', async (t) => {
  for (const ok of ['TopicTest', '%RETRY%group', 'a|b', 'a_b-c', 'x'.repeat(TOPIC_NAME_LENGTH_MAX)]) t.equal(brokerErrorCode(() => validateTopicName(ok)), undefined, ok);
  for (const bad of ['', 'has space', 'a:b', 'a/b', 'ü', 'x'.repeat(TOPIC_NAME_LENGTH_MAX + 1), 42]) {
    t.equal(brokerErrorCode(() => validateTopicName(bad)), 'BAD_REQUEST', String(bad));
  }
});

t.test('queue counts are 1..TOPIC_QUEUE_COUNT_MAX', async (t) => {
  t.equal(brokerErrorCode(() => validateQueueCount(1)), undefined);
  t.equal(brokerErrorCode(() => validateQueueCount(TOPIC_QUEUE_COUNT_MAX)), undefined);
  for (const bad of [0, -1, 1.5, TOPIC_QUEUE_COUNT_MAX + 1, '4']) t.equal(brokerErrorCode(() => validateQueueCount(bad)), 'BAD_REQUEST', String(bad));
});

t.test('message validation names the limit that was broken', async (t) => {
  const body = Uint8Array.of(1);
  t.equal(brokerErrorCode(() => validateMessages([{ body }])), undefined);
  t.equal(brokerErrorCode(() => validateMessages([])), 'BAD_REQUEST', 'empty batch');
  t.equal(brokerErrorCode(() => validateMessages('x')), 'BAD_REQUEST', 'not an array');
  t.equal(brokerErrorCode(() => validateMessages(Array.from({ length: SEND_BATCH_COUNT_MAX + 1 }, () => ({ body })))), 'BAD_REQUEST', 'too many');
  t.equal(brokerErrorCode(() => validateMessages([{ body: 'text' }])), 'BAD_REQUEST', 'string body');
  t.equal(brokerErrorCode(() => validateMessages([{ body: new Uint8Array(0) }])), 'BAD_REQUEST', 'empty body');
  t.equal(brokerErrorCode(() => validateMessages([{ body: new Uint8Array(MESSAGE_BODY_BYTES_MAX) }])), undefined, 'largest body');
  t.equal(brokerErrorCode(() => validateMessages([{ body: new Uint8Array(MESSAGE_BODY_BYTES_MAX + 1) }])), 'MESSAGE_TOO_LARGE', 'body too large');
  const big = new Uint8Array(MESSAGE_BODY_BYTES_MAX);
  t.equal(brokerErrorCode(() => validateMessages(Array.from({ length: SEND_BATCH_BYTES_MAX / MESSAGE_BODY_BYTES_MAX + 1 }, () => ({ body: big })))), 'MESSAGE_TOO_LARGE', 'batch too large');
  t.equal(brokerErrorCode(() => validateMessages([{ body, tags: 'x'.repeat(MESSAGE_TAGS_BYTES_MAX + 1) }])), 'BAD_REQUEST', 'tags too long');
  t.equal(brokerErrorCode(() => validateMessages([{ body, keys: 5 }])), 'BAD_REQUEST', 'keys not a string');
  t.equal(brokerErrorCode(() => validateMessages([{ body, properties: { a: 1 } }])), 'BAD_REQUEST', 'property not a string');
  t.equal(brokerErrorCode(() => validateMessages([{ body, properties: { '': 'x' } }])), 'BAD_REQUEST', 'empty property name');
  t.equal(brokerErrorCode(() => validateMessages([{ body, properties: { a: 'x'.repeat(40_000) } }])), 'BAD_REQUEST', 'properties too large');
  const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
  t.equal(brokerErrorCode(() => validateMessages([{ body, properties: many }])), 'BAD_REQUEST', 'too many properties');
});

t.test('commitOffsets batches are bounded and checked entry by entry', async (t) => {
  const e = { group: 'g', topic: 'T', queueId: 0, offset: 5 };
  t.equal(brokerErrorCode(() => validateCommand({ kind: 'commitOffsets', entries: [e] })), undefined);
  t.equal(brokerErrorCode(() => validateCommand({ kind: 'commitOffsets', entries: [] })), 'BAD_REQUEST');
  t.equal(brokerErrorCode(() => validateCommand({ kind: 'commitOffsets', entries: Array(COMMIT_OFFSETS_COUNT_MAX + 1).fill(e) })), 'BAD_REQUEST');
  t.equal(brokerErrorCode(() => validateCommand({ kind: 'commitOffsets', entries: [{ ...e, group: 'a b' }] })), 'BAD_REQUEST');
  t.equal(brokerErrorCode(() => validateCommand({ kind: 'commitOffsets', entries: [{ ...e, offset: -1 }] })), 'BAD_REQUEST');
});

t.test('an idempotent producer\'s fields come both or neither, with a valid id and a seq whose batch stays within safe integers', async (t) => {
  t.equal(brokerErrorCode(() => validateProducerSeq(undefined, undefined, 3)), undefined, 'neither');
  t.equal(brokerErrorCode(() => validateProducerSeq('host@1234:client-7', 0, 3)), undefined);
  t.equal(brokerErrorCode(() => validateProducerSeq('p', Number.MAX_SAFE_INTEGER - 3, 3)), undefined, 'the last safe batch');
  const bad: [unknown, unknown, string][] = [
    ['p', undefined, 'seq missing'],
    [undefined, 4, 'producerId missing'],
    ['', 0, 'empty id'],
    ['a b', 0, 'space in id'],
    ['x'.repeat(65), 0, 'id too long'],
    [7, 0, 'id not a string'],
    ['p', -1, 'negative seq'],
    ['p', 1.5, 'fractional seq'],
    ['p', '3', 'seq not a number'],
    ['p', Number.MAX_SAFE_INTEGER - 2, 'seq + count not safe'],
  ];
  for (const [producerId, seq, what] of bad) t.equal(brokerErrorCode(() => validateProducerSeq(producerId, seq, 3)), 'BAD_REQUEST', what);
  const cmd: BrokerCommand = { kind: 'sendBatch', topic: 'T', queueId: 0, storeTimestamp: 1, autoCreateQueues: 0, producerId: 'p', messages: [{ body: Uint8Array.of(1) }] };
  t.equal(brokerErrorCode(() => validateCommand(cmd)), 'BAD_REQUEST', 'validateCommand checks them');
});
