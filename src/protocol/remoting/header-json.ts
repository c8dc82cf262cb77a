// Serialize type JSON (0): the header is RemotingCommand as fastjson writes it. The Java side
// writes the fields in fastjson's sorted order, the enum `language` by name, a
// `serializeTypeCurrentRPC` field, and leaves out null remark and extFields; ali-ons writes its
// own order, and extFields values as JSON numbers where its header fields are numbers.
import type { RemotingCommand } from './command.ts';
import { RemotingDecodeError } from './command.ts';
import { LanguageCode, languageCodeOf, languageName } from './codes.ts';

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

/** The header's bytes, byte for byte what Java's RemotingSerializable.encode writes for the same
 *  command (its HashMap orders extFields by hash, so only their order may differ). */
export function encodeJsonHeader(cmd: RemotingCommand): Buffer {
  checkInt32('code', cmd.code);
  checkInt32('version', cmd.version);
  checkInt32('opaque', cmd.opaque);
  checkInt32('flag', cmd.flag);
  // Keys in fastjson's order (alphabetical); JSON.stringify keeps insertion order.
  const header: Record<string, unknown> = { code: cmd.code };
  const extKeys = Object.keys(cmd.extFields);
  if (extKeys.length > 0) header.extFields = cmd.extFields;
  header.flag = cmd.flag;
  header.language = languageName(cmd.language);
  header.opaque = cmd.opaque;
  if (cmd.remark !== undefined) header.remark = cmd.remark;
  header.serializeTypeCurrentRPC = 'JSON';
  header.version = cmd.version;
  return Buffer.from(JSON.stringify(header), 'utf8');
}

/** Reads a JSON header; unknown fields (serializeTypeCurrentRPC among them) are ignored, missing
 *  ones take Java's defaults except `code`, without which a command means nothing. */
export function decodeJsonHeader(bytes: Buffer): Omit<RemotingCommand, 'body'> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new RemotingDecodeError('malformed', `JSON header does not parse: ${(err as Error).message}`, err);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw malformed('is not a JSON object');
  const h = parsed as Record<string, unknown>;
  if (h.code === undefined) throw malformed('has no code');
  const language = h.language === undefined || h.language === null ? LanguageCode.JAVA : languageCodeOf(h.language);
  if (language === undefined) throw malformed(`has a language that is neither a name nor a byte: ${JSON.stringify(h.language)}`);
  const remark = h.remark;
  if (remark !== undefined && remark !== null && typeof remark !== 'string') throw malformed('has a remark that is not a string');
  return {
    code: int32Field(h, 'code'),
    language,
    version: int32Field(h, 'version'),
    opaque: int32Field(h, 'opaque'),
    flag: int32Field(h, 'flag'),
    ...(typeof remark === 'string' ? { remark } : {}),
    extFields: extFieldsOf(h.extFields),
  };
}

function extFieldsOf(value: unknown): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  if (value === undefined || value === null) return out;
  if (typeof value !== 'object' || Array.isArray(value)) throw malformed('has extFields that are not an object');
  for (const [key, v] of Object.entries(value)) {
    // A null value is a field not set (Java's decodeCommandCustomHeader skips it). Numbers and
    // booleans are what ali-ons writes for numeric header fields; Java would read them as text.
    if (v === null) continue;
    if (typeof v === 'string') out[key] = v;
    else if (typeof v === 'number' || typeof v === 'boolean') out[key] = String(v);
    else throw malformed(`has extFields.${key} that is neither a string, a number nor a boolean`);
  }
  return out;
}

function int32Field(h: Record<string, unknown>, name: string): number {
  const v = h[name];
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX) throw malformed(`has a ${name} that is not an int32: ${JSON.stringify(v)}`);
  return v;
}

function checkInt32(name: string, v: number): void {
  if (!Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX) throw new RangeError(`remoting command ${name} ${v} is not an int32`);
}

function malformed(what: string): RemotingDecodeError {
  return new RemotingDecodeError('malformed', `JSON header ${what}`);
}
