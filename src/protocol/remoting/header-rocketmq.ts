// Serialize type ROCKETMQ (1): RocketMQSerializable's binary header, big-endian:
//   int16 code | int8 language | int16 version | int32 opaque | int32 flag
//   | int32 remarkLength | remark (UTF-8) | int32 extFieldsLength | extFields
// where extFields is a run of (int16 keyLength | key | int32 valueLength | value), UTF-8.
// Java writes length 0 for a null or empty remark and for null or empty extFields.
import type { RemotingCommand } from './command.ts';
import { RemotingDecodeError } from './command.ts';

/** Bytes of the fixed part: code 2, language 1, version 2, opaque 4, flag 4, the two lengths 4+4. */
const FIXED_BYTES = 2 + 1 + 2 + 4 + 4 + 4 + 4;
const INT16_MIN = -0x8000;
const INT16_MAX = 0x7fff;
const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

export function encodeRocketmqHeader(cmd: RemotingCommand): Buffer {
  checkInt('code', cmd.code, INT16_MIN, INT16_MAX);
  checkInt('language', cmd.language, 0, 0xff);
  checkInt('version', cmd.version, INT16_MIN, INT16_MAX);
  checkInt('opaque', cmd.opaque, INT32_MIN, INT32_MAX);
  checkInt('flag', cmd.flag, INT32_MIN, INT32_MAX);
  const remark = cmd.remark ? Buffer.from(cmd.remark, 'utf8') : undefined;
  const pairs: [Buffer, Buffer][] = [];
  let extBytes = 0;
  for (const [k, v] of Object.entries(cmd.extFields)) {
    const key = Buffer.from(k, 'utf8');
    const value = Buffer.from(v, 'utf8');
    if (key.length > INT16_MAX) throw new RangeError(`remoting extFields key of ${key.length} bytes exceeds the int16 length ${INT16_MAX}`);
    pairs.push([key, value]);
    extBytes += 2 + key.length + 4 + value.length;
  }
  const out = Buffer.allocUnsafe(FIXED_BYTES + (remark?.length ?? 0) + extBytes);
  let at = out.writeInt16BE(cmd.code, 0);
  at = out.writeUInt8(cmd.language, at);
  at = out.writeInt16BE(cmd.version, at);
  at = out.writeInt32BE(cmd.opaque, at);
  at = out.writeInt32BE(cmd.flag, at);
  at = out.writeInt32BE(remark?.length ?? 0, at);
  if (remark) at += remark.copy(out, at);
  at = out.writeInt32BE(extBytes, at);
  for (const [key, value] of pairs) {
    at = out.writeInt16BE(key.length, at);
    at += key.copy(out, at);
    at = out.writeInt32BE(value.length, at);
    at += value.copy(out, at);
  }
  return out;
}

/** Reads a binary header. Every length is checked against the bytes left before anything is read
 *  with it; bytes after the extFields are refused (Java never writes any). */
export function decodeRocketmqHeader(bytes: Buffer): Omit<RemotingCommand, 'body'> {
  if (bytes.length < FIXED_BYTES) throw malformed(`of ${bytes.length} bytes is shorter than its fixed ${FIXED_BYTES}`);
  const code = bytes.readInt16BE(0);
  const language = bytes.readUInt8(2);
  const version = bytes.readInt16BE(3);
  const opaque = bytes.readInt32BE(5);
  const flag = bytes.readInt32BE(9);
  let at = 13;
  const remarkLength = bytes.readInt32BE(at);
  at += 4;
  checkLength('remark', remarkLength, bytes.length - at - 4);
  const remark = remarkLength > 0 ? bytes.toString('utf8', at, at + remarkLength) : undefined;
  at += remarkLength;
  const extLength = bytes.readInt32BE(at);
  at += 4;
  checkLength('extFields', extLength, bytes.length - at);
  if (at + extLength !== bytes.length) throw malformed(`has ${bytes.length - at - extLength} bytes after its extFields`);
  const extFields: Record<string, string> = Object.create(null);
  const end = at + extLength;
  while (at < end) {
    if (end - at < 2) throw malformed('extFields end inside a key length');
    const keyLength = bytes.readInt16BE(at);
    at += 2;
    checkLength('extFields key', keyLength, end - at - 4);
    const key = bytes.toString('utf8', at, at + keyLength);
    at += keyLength;
    const valueLength = bytes.readInt32BE(at);
    at += 4;
    checkLength('extFields value', valueLength, end - at);
    extFields[key] = bytes.toString('utf8', at, at + valueLength);
    at += valueLength;
  }
  return { code, language, version, opaque, flag, ...(remark === undefined ? {} : { remark }), extFields };
}

function checkLength(what: string, length: number, left: number): void {
  if (length < 0 || length > left) throw malformed(`has a ${what} length of ${length} with ${Math.max(0, left)} bytes left`);
}

function checkInt(name: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`remoting command ${name} ${v} does not fit the ROCKETMQ header (${min}..${max})`);
}

function malformed(what: string): RemotingDecodeError {
  return new RemotingDecodeError('malformed', `ROCKETMQ header ${what}`);
}
