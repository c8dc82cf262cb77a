import t from 'tap';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import {
  decodeCommand,
  decodeSendBatchHead,
  encodeCommand,
  COMMAND_VERSION,
  type SendBatchCommand,
  BrokerError,
  CommandDecodeError,
  encodeSendBatch,
  readSendBatchHead,
  forEachMessageKeys,
} from '../../src/broker/index.ts';
import type { MessageInput } from '../../src/protocol/index.ts';
import { arbMessage } from './arbitraries.ts';

// The reference: the msgpackr encoding encodeCommand used before it wrote sendBatch itself.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
function reference(cmd: SendBatchCommand): Uint8Array {
  const msg = (m: MessageInput): unknown[] => {
    const props = m.properties === undefined ? undefined : Object.entries(m.properties).flat();
    const out: unknown[] = [m.body, m.keys ?? null, m.tags ?? null, props ?? null];
    while (out.length > 1 && out[out.length - 1] === null) out.pop();
    return out;
  };
  const producer = cmd.producerId === undefined ? [] : [cmd.producerId, cmd.seq];
  const body = packr.pack([cmd.topic, cmd.queueId, cmd.storeTimestamp, cmd.autoCreateQueues, ...producer, cmd.messages.map(msg)]);
  return Buffer.concat([Uint8Array.of(COMMAND_VERSION, 1), body]);
}

// Sizes on both sides of every msgpack header boundary (fixstr 31/32, str8 255/256, fixarray 15/16,
// bin8 255/256, uint 127/128, 255/256, 65535/65536, 2^32-1/2^32).
const arbUint = fc.oneof(fc.constantFrom(0, 127, 128, 255, 256, 65535, 65536, 0xffffffff, 2 ** 32, 1_733_250_000_000, Number.MAX_SAFE_INTEGER), fc.nat());
const arbText = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 300 }), fc.constantFrom('', 'x'.repeat(31), 'x'.repeat(32), 'é'.repeat(16), 'y'.repeat(255), 'y'.repeat(256), 'z'.repeat(65536)));
const arbBody = fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.constantFrom(255, 256, 65535, 65536).map((n) => new Uint8Array(n).fill(7)));
const arbMsg: fc.Arbitrary<MessageInput> = fc.oneof(
  arbMessage(),
  fc.record({ body: arbBody, keys: arbText, tags: arbText, properties: fc.dictionary(arbText, arbText, { maxKeys: 20 }) }, { requiredKeys: ['body'] }),
);
const arbProducerId = fc.oneof(fc.stringMatching(/^[a-zA-Z0-9_.:@-]{1,64}$/), fc.constantFrom('p', 'x'.repeat(31), 'x'.repeat(32), 'host@1234:5'.padEnd(64, '-')));
const arbBatch: fc.Arbitrary<SendBatchCommand> = fc
  .tuple(
    fc.record({
      kind: fc.constant('sendBatch' as const),
      topic: fc.oneof(fc.constantFrom('T', 'TopicA', '%RETRY%g1', 't'.repeat(127)), fc.string({ minLength: 1, maxLength: 64 })),
      queueId: arbUint,
      storeTimestamp: arbUint,
      autoCreateQueues: arbUint,
      messages: fc.oneof(fc.array(arbMsg, { minLength: 1, maxLength: 20 }), fc.array(arbMsg, { minLength: 15, maxLength: 17 })),
    }),
    fc.option(fc.record({ producerId: arbProducerId, seq: arbUint })),
  )
  .map(([cmd, producer]) => (producer === null ? cmd : { ...cmd, ...producer }));

t.test('sendBatch bytes equal msgpackr\'s encoding of the same values, and decode back', async (t) => {
  const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
  t.comment(`seed ${seed} (SEED=${seed} replays)`);
  let checked = 0;
  fc.assert(
    fc.property(arbBatch, (cmd) => {
      const bytes = encodeCommand(cmd);
      const want = reference(cmd);
      if (!Buffer.from(bytes).equals(Buffer.from(want))) return false;
      const back = decodeCommand(bytes);
      if (back.kind !== 'sendBatch' || back.messages.length !== cmd.messages.length) return false;
      checked++;
      return back.messages.every((m, i) => Buffer.from(m.body).equals(Buffer.from(cmd.messages[i].body)) && m.keys === cmd.messages[i].keys && m.tags === cmd.messages[i].tags);
    }),
    { numRuns: 300, seed },
  );
  t.equal(checked, 300, 'every generated batch compared and decoded');
});

t.test('a batch of 256 messages (array16) and one of 65536-byte bodies (bin32)', async (t) => {
  const many: SendBatchCommand = { kind: 'sendBatch', topic: 'T', queueId: 3, storeTimestamp: 1, autoCreateQueues: 0, messages: Array.from({ length: 256 }, (_, i) => ({ body: Uint8Array.of(i & 0xff) })) };
  t.same(Buffer.from(encodeCommand(many)), Buffer.from(reference(many)));
  const big: SendBatchCommand = { ...many, messages: [{ body: new Uint8Array(70_000).fill(1), keys: 'k' }] };
  t.same(Buffer.from(encodeCommand(big)), Buffer.from(reference(big)));
  t.equal(encodeSendBatch([9, 9], big)[0], 9, 'the given header comes first');
});

t.test('a number field that is not a non-negative safe integer is refused, not written wrong', async (t) => {
  const base: SendBatchCommand = { kind: 'sendBatch', topic: 'T', queueId: 0, storeTimestamp: 1, autoCreateQueues: 0, messages: [{ body: Uint8Array.of(1) }] };
  for (const bad of [1.5, -1, 2 ** 53, Number.NaN]) {
    t.throws(() => encodeCommand({ ...base, storeTimestamp: bad }), TypeError, `storeTimestamp ${bad}`);
    t.throws(() => encodeCommand({ ...base, queueId: bad }), TypeError, `queueId ${bad}`);
  }
});

const fail = (why: string): Error => new CommandDecodeError(why);

t.test('the head read without decoding the messages matches the full decode, and the key walker finds every message\'s keys', async (t) => {
  const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
  t.comment(`seed ${seed} (SEED=${seed} replays)`);
  let checked = 0;
  fc.assert(
    fc.property(arbBatch, (cmd) => {
      const bytes = encodeCommand(cmd);
      const head = readSendBatchHead(bytes, 2, fail);
      const want = { topic: cmd.topic, queueId: cmd.queueId, storeTimestamp: cmd.storeTimestamp, autoCreateQueues: cmd.autoCreateQueues, producerId: cmd.producerId ?? null, seq: cmd.seq ?? null, count: cmd.messages.length };
      const { messagesPos: _, ...fields } = head;
      if (JSON.stringify({ ...fields, producerId: fields.producerId ?? null, seq: fields.seq ?? null }) !== JSON.stringify(want)) return false;
      const keys: (string | undefined)[] = new Array(cmd.messages.length).fill(undefined);
      forEachMessageKeys(bytes, head, fail, (slot, start, end) => (keys[slot] = Buffer.from(bytes.subarray(start, end)).toString('utf8')));
      if (cmd.messages.some((m, i) => (m.keys || undefined) !== keys[i])) return false;
      // Every cut before the messages' array header is refused, never misread.
      const headEnd = reference({ ...cmd, messages: [] }).length;
      for (let cut = 2; cut < headEnd; cut++) {
        try {
          readSendBatchHead(bytes.subarray(0, cut), 2, fail);
          return false;
        } catch (err) {
          if (!(err instanceof CommandDecodeError)) return false;
        }
      }
      checked++;
      return true;
    }),
    { numRuns: 200, seed },
  );
  t.equal(checked, 200);
});

t.test('the head accepts every msgpack unsigned integer form and refuses other types', async (t) => {
  // [topic "T", queueId uint64 3, storeTimestamp uint16 300, autoCreateQueues fixint 4, [ [bin 1] ]]
  const uint64 = Buffer.alloc(9);
  uint64[0] = 0xcf;
  uint64.writeBigUInt64BE(3n, 1);
  const entry = Buffer.concat([Buffer.from([COMMAND_VERSION, 1, 0x95, 0xa1, 0x54]), uint64, Buffer.from([0xcd, 0x01, 0x2c, 0x04, 0x91, 0x91, 0xc4, 0x01, 0x07])]);
  t.strictSame(decodeSendBatchHead(entry), { topic: 'T', queueId: 3, storeTimestamp: 300, autoCreateQueues: 4, producerId: undefined, seq: undefined, schedule: undefined, count: 1, messagesPos: 19 });
  t.same(decodeCommand(entry), { kind: 'sendBatch', topic: 'T', queueId: 3, storeTimestamp: 300, autoCreateQueues: 4, messages: [{ body: Buffer.of(7) }] }, 'the full decode agrees');
  const negative = Buffer.from(entry);
  negative[5] = 0xd0; // int8: not an unsigned form
  t.throws(() => decodeSendBatchHead(negative), CommandDecodeError);
  const notArray = Buffer.from(entry);
  notArray[2] = 0x80; // a map
  t.throws(() => decodeSendBatchHead(notArray), CommandDecodeError);
});

t.test('decodeSendBatchHead checks the fields as validateCommand does', async (t) => {
  const base: SendBatchCommand = { kind: 'sendBatch', topic: 'T', queueId: 0, storeTimestamp: 1, autoCreateQueues: 0, messages: [{ body: Uint8Array.of(1) }] };
  t.throws(() => decodeSendBatchHead(encodeCommand({ ...base, topic: 'a b' })), BrokerError, 'topic characters');
  t.throws(() => decodeSendBatchHead(encodeCommand({ ...base, queueId: 1024 })), BrokerError, 'queueId limit');
  t.throws(() => decodeSendBatchHead(encodeCommand({ ...base, autoCreateQueues: 5000 })), BrokerError, 'queue count limit');
  t.throws(() => decodeSendBatchHead(encodeCommand({ ...base, messages: Array.from({ length: 1025 }, () => ({ body: Uint8Array.of(1) })) })), BrokerError, 'message count limit');
  t.throws(() => decodeSendBatchHead(encodeCommand({ kind: 'createTopic', topic: 'T', queues: 1 })), CommandDecodeError, 'another kind');
  t.same(decodeSendBatchHead(encodeCommand(base)).count, 1);
});

t.test('an entry written before producers had ids (5 fields) still decodes, and a send without a producer is written with the same bytes', async (t) => {
  // encodeCommand's bytes for this send before idempotent producers existed.
  const before = Buffer.from('010195a15401cd012c049291c4010194c40102a16ba2746792a161a162', 'hex');
  const cmd: SendBatchCommand = { kind: 'sendBatch', topic: 'T', queueId: 1, storeTimestamp: 300, autoCreateQueues: 4, messages: [{ body: Uint8Array.of(1) }, { body: Uint8Array.of(2), keys: 'k', tags: 'tg', properties: { a: 'b' } }] };
  t.same(decodeCommand(before), cmd);
  t.strictSame(decodeSendBatchHead(before), { topic: 'T', queueId: 1, storeTimestamp: 300, autoCreateQueues: 4, producerId: undefined, seq: undefined, schedule: undefined, count: 2, messagesPos: 11 });
  t.same(Buffer.from(encodeCommand(cmd)), before);
});

t.test('a send with a producer carries its id and seq before the messages; the head reads them, checked as validateCommand checks them', async (t) => {
  const base: SendBatchCommand = { kind: 'sendBatch', topic: 'T', queueId: 2, storeTimestamp: 1, autoCreateQueues: 0, producerId: 'p-1', seq: 300, messages: [{ body: Uint8Array.of(1) }, { body: Uint8Array.of(2) }] };
  const bytes = encodeCommand(base);
  t.equal(bytes[2], 0x97, 'a msgpack array of 7 fields');
  t.match(decodeSendBatchHead(bytes), { producerId: 'p-1', seq: 300, count: 2 });
  t.same(decodeCommand(bytes), base, 'the full decode agrees');
  t.throws(() => decodeSendBatchHead(encodeCommand({ ...base, producerId: 'has space' })), BrokerError, 'producerId characters');
  t.throws(() => decodeSendBatchHead(encodeCommand({ ...base, producerId: 'x'.repeat(65) })), BrokerError, 'producerId length');
  t.throws(() => decodeSendBatchHead(encodeCommand({ ...base, seq: Number.MAX_SAFE_INTEGER })), BrokerError, 'seq + count past the largest safe integer');
  t.throws(() => encodeCommand({ ...base, seq: -1 }), TypeError, 'a negative seq is never written');
  const six = Buffer.from(encodeCommand({ ...base, producerId: undefined, seq: undefined }));
  six[2] = 0x96;
  t.throws(() => decodeSendBatchHead(six), CommandDecodeError, 'an array of 6 fields is neither layout');
  t.throws(() => decodeCommand(six), CommandDecodeError);
});
