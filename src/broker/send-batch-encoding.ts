// The sendBatch command's entry bytes, written directly: one buffer of the exact size, each body
// copied into it once. (msgpackr copied every body into its own buffer and encodeCommand then
// copied the whole result again behind the two header bytes: two copies of every body on the
// master's hot path.) The output is plain msgpack, the same bytes msgpackr writes for these values
// (test/broker/commands.test.ts checks that), so decodeCommand reads it unchanged.
import type { MessageInput } from '../protocol/index.ts';

const UTF8 = new TextEncoder();

/** msgpack header bytes of a string, bin or array of `n` bytes or items. */
function strHeaderBytes(n: number): number {
  return n < 32 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5;
}
function binHeaderBytes(n: number): number {
  return n < 256 ? 2 : n < 65536 ? 3 : 5;
}
function arrayHeaderBytes(n: number): number {
  return n < 16 ? 1 : n < 65536 ? 3 : 5;
}
/** A non-negative safe integer: fixint, uint8/16/32, or (as msgpackr does above 2^32) float64. */
function uintBytes(v: number): number {
  return v < 128 ? 1 : v < 256 ? 2 : v < 65536 ? 3 : v <= 0xffffffff ? 5 : 9;
}

class Writer {
  pos: number;
  private readonly view: DataView;
  constructor(readonly buf: Uint8Array, start: number) {
    this.pos = start;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  byte(b: number): void {
    this.buf[this.pos++] = b;
  }
  private sized(n: number, tiny: number, tinyMax: number, c8: number, c16: number, c32: number): void {
    if (n < tinyMax && tiny >= 0) this.byte(tiny | n);
    else if (n < 256 && c8 >= 0) {
      this.byte(c8);
      this.byte(n);
    } else if (n < 65536) {
      this.byte(c16);
      this.view.setUint16(this.pos, n);
      this.pos += 2;
    } else {
      this.byte(c32);
      this.view.setUint32(this.pos, n);
      this.pos += 4;
    }
  }
  array(n: number): void {
    this.sized(n, 0x90, 16, -1, 0xdc, 0xdd);
  }
  uint(v: number): void {
    if (v < 128) this.byte(v);
    else if (v < 256) {
      this.byte(0xcc);
      this.byte(v);
    } else if (v < 65536) {
      this.byte(0xcd);
      this.view.setUint16(this.pos, v);
      this.pos += 2;
    } else if (v <= 0xffffffff) {
      this.byte(0xce);
      this.view.setUint32(this.pos, v);
      this.pos += 4;
    } else {
      this.byte(0xcb);
      this.view.setFloat64(this.pos, v);
      this.pos += 8;
    }
  }
  str(utf8: Uint8Array): void {
    this.sized(utf8.length, 0xa0, 32, 0xd9, 0xda, 0xdb);
    this.buf.set(utf8, this.pos);
    this.pos += utf8.length;
  }
  bin(b: Uint8Array): void {
    this.sized(b.length, -1, 0, 0xc4, 0xc5, 0xc6);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  nil(): void {
    this.byte(0xc0);
  }
}

/** A message's optional fields, UTF-8 encoded, as encodeCommand lays them out: [body, keys?, tags?,
 *  properties?] with trailing absent fields dropped and properties as a flat [k0, v0, ...] array. */
interface EncodedMeta {
  readonly fields: number; // 1..4
  readonly keys: Uint8Array | null;
  readonly tags: Uint8Array | null;
  readonly props: readonly Uint8Array[] | null;
}

const BODY_ONLY: EncodedMeta = { fields: 1, keys: null, tags: null, props: null };

function encodeMeta(m: MessageInput): EncodedMeta {
  if (m.keys === undefined && m.tags === undefined && m.properties === undefined) return BODY_ONLY;
  const keys = m.keys === undefined ? null : UTF8.encode(m.keys);
  const tags = m.tags === undefined ? null : UTF8.encode(m.tags);
  const props = m.properties === undefined ? null : Object.entries(m.properties).flat().map((s) => UTF8.encode(s));
  const fields = props !== null ? 4 : tags !== null ? 3 : 2;
  return { fields, keys, tags, props };
}

function metaBytes(meta: EncodedMeta): number {
  let n = 0;
  if (meta.fields >= 2) n += meta.keys === null ? 1 : strHeaderBytes(meta.keys.length) + meta.keys.length;
  if (meta.fields >= 3) n += meta.tags === null ? 1 : strHeaderBytes(meta.tags.length) + meta.tags.length;
  if (meta.fields >= 4 && meta.props !== null) {
    n += arrayHeaderBytes(meta.props.length);
    for (const p of meta.props) n += strHeaderBytes(p.length) + p.length;
  }
  return n;
}

export interface SendBatchFields {
  readonly topic: string;
  readonly queueId: number;
  readonly storeTimestamp: number;
  readonly autoCreateQueues: number;
  /** Idempotent producer (both or neither): its id and the batch's first sequence number. */
  readonly producerId?: string;
  readonly seq?: number;
  /** A delivery of delayed messages (schedule-service.ts): never with a producer. */
  readonly schedule?: ScheduleAdvance;
  readonly messages: readonly MessageInput[];
}

/** A delivery of delayed messages moves delay level `level`'s schedule offset from `from` to
 *  `to` (= from + the batch's count): apply stores the batch only while the offset is `from`. */
export interface ScheduleAdvance {
  readonly level: number;
  readonly from: number;
  readonly to: number;
}

/** Fields of a sendBatch entry without a producer, and with one (producerId and seq added
 *  before the messages): the count tells the two layouts apart, so entries written before
 *  producers had ids decode unchanged, and a send without one keeps exactly those bytes. A
 *  delivery of delayed messages has level, from and to there instead (8 fields). */
export const SEND_BATCH_FIELDS = 5;
export const SEND_BATCH_FIELDS_WITH_PRODUCER = 7;
export const SEND_BATCH_FIELDS_WITH_SCHEDULE = 8;

/** The entry bytes: `header` (version, kind) then the msgpack array
 *  [topic, queueId, storeTimestamp, autoCreateQueues, (producerId, seq,) [[body, keys?, tags?, properties?]...]]. */
export function encodeSendBatch(header: readonly number[], cmd: SendBatchFields): Uint8Array {
  // Callers validated the command (validateCommand, prepareSend); the writer has no other path
  // for a number than these unsigned integers, so anything else must not reach it.
  const withProducer = cmd.producerId !== undefined;
  const sched = cmd.schedule;
  if (withProducer && sched !== undefined) throw new TypeError('a delivery of delayed messages has no producer');
  const extra = withProducer ? [cmd.seq] : sched !== undefined ? [sched.level, sched.from, sched.to] : [];
  for (const v of [cmd.queueId, cmd.storeTimestamp, cmd.autoCreateQueues, ...extra]) {
    if (!Number.isSafeInteger(v) || v! < 0) throw new TypeError(`sendBatch field ${v} is not a non-negative safe integer`);
  }
  const topic = UTF8.encode(cmd.topic);
  const producerId = withProducer ? UTF8.encode(cmd.producerId) : null;
  const metas: EncodedMeta[] = new Array(cmd.messages.length);
  let size = header.length + 1 + strHeaderBytes(topic.length) + topic.length;
  size += uintBytes(cmd.queueId) + uintBytes(cmd.storeTimestamp) + uintBytes(cmd.autoCreateQueues);
  if (producerId !== null) size += strHeaderBytes(producerId.length) + producerId.length + uintBytes(cmd.seq!);
  if (sched !== undefined) size += uintBytes(sched.level) + uintBytes(sched.from) + uintBytes(sched.to);
  size += arrayHeaderBytes(cmd.messages.length);
  for (let i = 0; i < cmd.messages.length; i++) {
    const m = cmd.messages[i];
    const meta = encodeMeta(m);
    metas[i] = meta;
    size += arrayHeaderBytes(meta.fields) + binHeaderBytes(m.body.length) + m.body.length + metaBytes(meta);
  }
  // Not zero-filled: the writer fills every byte in order, and the check at the end throws (the
  // buffer never escapes) if it wrote fewer or more than planned.
  const out = Buffer.allocUnsafeSlow(size);
  const w = new Writer(out, 0);
  for (const b of header) w.byte(b);
  w.array(producerId !== null ? SEND_BATCH_FIELDS_WITH_PRODUCER : sched !== undefined ? SEND_BATCH_FIELDS_WITH_SCHEDULE : SEND_BATCH_FIELDS);
  w.str(topic);
  w.uint(cmd.queueId);
  w.uint(cmd.storeTimestamp);
  w.uint(cmd.autoCreateQueues);
  if (producerId !== null) {
    w.str(producerId);
    w.uint(cmd.seq!);
  }
  if (sched !== undefined) {
    w.uint(sched.level);
    w.uint(sched.from);
    w.uint(sched.to);
  }
  w.array(cmd.messages.length);
  for (let i = 0; i < cmd.messages.length; i++) {
    const meta = metas[i];
    w.array(meta.fields);
    w.bin(cmd.messages[i].body);
    if (meta.fields >= 2) meta.keys === null ? w.nil() : w.str(meta.keys);
    if (meta.fields >= 3) meta.tags === null ? w.nil() : w.str(meta.tags);
    if (meta.fields >= 4 && meta.props !== null) {
      w.array(meta.props.length);
      for (const p of meta.props) w.str(p);
    }
  }
  if (w.pos !== size) throw new Error(`sendBatch encoding wrote ${w.pos} bytes, planned ${size}`);
  return out;
}

/** What apply needs of a send batch: its header fields and how many messages it holds. */
export interface SendBatchHead {
  readonly topic: string;
  readonly queueId: number;
  readonly storeTimestamp: number;
  readonly autoCreateQueues: number;
  /** The idempotent producer's id and the batch's first sequence number; undefined (both) for
   *  a send without one. */
  readonly producerId: string | undefined;
  readonly seq: number | undefined;
  /** A delivery of delayed messages: the schedule offset it advances; undefined otherwise. */
  readonly schedule: ScheduleAdvance | undefined;
  readonly count: number;
  /** Byte position of the first message in the entry's data. */
  readonly messagesPos: number;
}

const UTF8_DECODER = new TextDecoder('utf-8', { fatal: true });

/** Reads msgpack values from `data` at `pos`; `fail` makes the caller's error. */
class Reader {
  private readonly view: DataView;
  constructor(
    private readonly data: Uint8Array,
    public pos: number,
    private readonly fail: (why: string) => Error,
  ) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }
  private need(n: number): void {
    if (this.pos + n > this.data.length) throw this.fail(`sendBatch command cut short at byte ${this.pos}`);
  }
  byte(): number {
    this.need(1);
    return this.data[this.pos++];
  }
  /** A big-endian unsigned integer of 2 or 4 bytes. */
  private fixed(bytes: 2 | 4): number {
    this.need(bytes);
    this.pos += bytes;
    return bytes === 2 ? this.view.getUint16(this.pos - 2) : this.view.getUint32(this.pos - 4);
  }
  arrayLength(what: string): number {
    const b = this.byte();
    if ((b & 0xf0) === 0x90) return b & 0x0f;
    if (b === 0xdc) return this.fixed(2);
    if (b === 0xdd) return this.fixed(4);
    throw this.fail(`${what} is not an array`);
  }
  /** Any msgpack unsigned integer form, and a float64 only when it holds a safe integer. */
  uint(what: string): number {
    const b = this.byte();
    if (b < 0x80) return b;
    let v: number;
    if (b === 0xcc) v = this.byte();
    else if (b === 0xcd) v = this.fixed(2);
    else if (b === 0xce) v = this.fixed(4);
    else if (b === 0xcf || b === 0xcb) {
      this.need(8);
      v = b === 0xcf ? Number(this.view.getBigUint64(this.pos)) : this.view.getFloat64(this.pos);
      this.pos += 8;
    } else throw this.fail(`${what} is not a non-negative integer`);
    if (!Number.isSafeInteger(v) || v < 0) throw this.fail(`${what} is not a non-negative integer`);
    return v;
  }
  /** Skips a bin value (a message body) without reading it. */
  skipBin(what: string): void {
    const b = this.byte();
    const n = b === 0xc4 ? this.byte() : b === 0xc5 ? this.fixed(2) : b === 0xc6 ? this.fixed(4) : -1;
    if (n < 0) throw this.fail(`${what} is not a bin`);
    this.need(n);
    this.pos += n;
  }
  /** The byte length of a string value (its bytes follow at pos), or -1 for nil. */
  strOrNilLength(what: string): number {
    const b = this.byte();
    if (b === 0xc0) return -1;
    if ((b & 0xe0) === 0xa0) return b & 0x1f;
    if (b === 0xd9) return this.byte();
    if (b === 0xda) return this.fixed(2);
    if (b === 0xdb) return this.fixed(4);
    throw this.fail(`${what} is not a string`);
  }
  str(what: string): string {
    const b = this.byte();
    let n: number;
    if ((b & 0xe0) === 0xa0) n = b & 0x1f;
    else if (b === 0xd9) n = this.byte();
    else if (b === 0xda) n = this.fixed(2);
    else if (b === 0xdb) n = this.fixed(4);
    else throw this.fail(`${what} is not a string`);
    this.need(n);
    this.pos += n;
    try {
      return UTF8_DECODER.decode(this.data.subarray(this.pos - n, this.pos));
    } catch {
      throw this.fail(`${what} is not valid UTF-8`);
    }
  }
}

/**
 * Reads the head of a sendBatch entry (`data` after its `headerBytes` version and kind bytes)
 * without decoding its messages: apply counts them and leaves the bodies alone (a consumer's pull
 * decodes the batch when it reads it). Accepts what decodeCommand accepts for these fields (any
 * msgpack unsigned integer form, a float64 only when it holds a safe integer). `fail` makes the
 * caller's error.
 */
export function readSendBatchHead(data: Uint8Array, headerBytes: number, fail: (why: string) => Error): SendBatchHead {
  const r = new Reader(data, headerBytes, fail);
  const fields = r.arrayLength('sendBatch command');
  if (fields !== SEND_BATCH_FIELDS && fields !== SEND_BATCH_FIELDS_WITH_PRODUCER && fields !== SEND_BATCH_FIELDS_WITH_SCHEDULE) {
    throw fail(`sendBatch is an array of ${fields} fields, not ${SEND_BATCH_FIELDS}, ${SEND_BATCH_FIELDS_WITH_PRODUCER} or ${SEND_BATCH_FIELDS_WITH_SCHEDULE}`);
  }
  const topic = r.str('topic');
  const queueId = r.uint('queueId');
  const storeTimestamp = r.uint('storeTimestamp');
  const autoCreateQueues = r.uint('autoCreateQueues');
  let producerId: string | undefined;
  let seq: number | undefined;
  if (fields === SEND_BATCH_FIELDS_WITH_PRODUCER) {
    producerId = r.str('producerId');
    seq = r.uint('seq');
  }
  let schedule: ScheduleAdvance | undefined;
  if (fields === SEND_BATCH_FIELDS_WITH_SCHEDULE) schedule = { level: r.uint('level'), from: r.uint('from'), to: r.uint('to') };
  const count = r.arrayLength('messages');
  return { topic, queueId, storeTimestamp, autoCreateQueues, producerId, seq, schedule, count, messagesPos: r.pos };
}

/**
 * Calls `onKeys(slot, start, end)` with the byte range of each message's keys (UTF-8, in `data`)
 * in a sendBatch entry whose head is `head`; messages without keys are skipped. Reads only the
 * messages' headers: bodies are stepped over. `fail` makes the caller's error.
 */
export function forEachMessageKeys(data: Uint8Array, head: SendBatchHead, fail: (why: string) => Error, onKeys: (slot: number, start: number, end: number) => void): void {
  const r = new Reader(data, head.messagesPos, fail);
  for (let slot = 0; slot < head.count; slot++) {
    const fields = r.arrayLength('message');
    if (fields < 1 || fields > 4) throw fail(`message ${slot} has ${fields} fields`);
    r.skipBin('body');
    if (fields >= 2) {
      const n = r.strOrNilLength('keys');
      if (n > 0) {
        if (r.pos + n > data.length) throw fail(`keys of message ${slot} cut short`);
        onKeys(slot, r.pos, r.pos + n);
        r.pos += n;
      }
    }
    if (fields >= 3) {
      const n = r.strOrNilLength('tags');
      if (n > 0) r.pos += n;
    }
    if (fields >= 4) {
      const props = r.arrayLength('properties');
      for (let i = 0; i < props; i++) {
        const n = r.strOrNilLength('property');
        r.pos += Math.max(0, n);
      }
    }
  }
}
