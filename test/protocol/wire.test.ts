// Send requests carry bodies as the frame's blobs: messagesToWire / messagesFromWire.
import fc from 'fast-check';
import t from 'tap';
import { MSG_ID_SLOT_HEX, SEND_BATCH_COUNT_MAX, messagesFromWire, messagesToWire, msgIdSlotHex, type MessageInput } from '../../src/protocol/index.ts';

const SEED = Number(process.env.SEED ?? 20261129);

const messageArb: fc.Arbitrary<MessageInput> = fc.record(
  {
    body: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
    keys: fc.string({ maxLength: 8 }),
    tags: fc.string({ maxLength: 8 }),
    properties: fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
  },
  { requiredKeys: ['body'] },
);

t.test('messages survive the trip through the wire form, bodies byte for byte', async (t) => {
  t.comment(`seed ${SEED} (replay: SEED=${SEED} npx tap test/broker/protocol.test.ts)`);
  fc.assert(
    fc.property(fc.array(messageArb, { maxLength: 40 }), (messages) => {
      const { wire, blobs } = messagesToWire(messages);
      for (const w of wire) if ('body' in w) throw new Error('a wire message carries its body');
      const back = messagesFromWire(wire, Buffer.concat(blobs));
      if (typeof back === 'string') throw new Error(back);
      const norm = (ms: readonly MessageInput[]) => ms.map((m) => ({ ...m, body: Buffer.from(m.body).toString('hex') }));
      t.same(norm(back), norm(messages));
    }),
    { seed: SEED, numRuns: 200 },
  );
});

t.test('wire messages that do not match the blobs are refused with a reason', async (t) => {
  const blobs = Buffer.from('abcdef');
  t.match(messagesFromWire('x', blobs), /must be an array/);
  t.match(messagesFromWire([null], blobs), /not an object/);
  t.match(messagesFromWire([{ size: 7 }], blobs), /size 7, but 6 bytes/);
  t.match(messagesFromWire([{ size: -1 }], blobs), /size -1/);
  t.match(messagesFromWire([{ size: 1.5 }], blobs), /size 1.5/);
  t.match(messagesFromWire([{}], blobs), /size undefined/);
  t.match(messagesFromWire([{ size: 2 }, { size: 2 }], blobs), /2 bytes of bodies belong to no message/);
  const ok = messagesFromWire([{ size: 2 }, { size: 0 }, { size: 4, tags: 't' }], blobs);
  t.same(typeof ok === 'string' ? ok : ok.map((m) => [Buffer.from(m.body).toString(), m.tags]), [['ab', undefined], ['', undefined], ['cdef', 't']]);
});

t.test('msgIdSlotHex: MSG_ID_SLOT_HEX upper-case hex digits for every slot, from its table and past it', async (t) => {
  let bad = 0;
  for (let slot = 0; slot < SEND_BATCH_COUNT_MAX + 70000; slot++) {
    const want = slot.toString(16).toUpperCase().padStart(MSG_ID_SLOT_HEX, '0');
    if (msgIdSlotHex(slot) !== want && bad++ < 5) t.fail(`slot ${slot}: ${msgIdSlotHex(slot)}, want ${want}`);
  }
  t.equal(bad, 0);
  t.equal(msgIdSlotHex(10), '000A');
  t.equal(msgIdSlotHex(1023), '03FF');
  t.equal(msgIdSlotHex(65535), 'FFFF');
});
