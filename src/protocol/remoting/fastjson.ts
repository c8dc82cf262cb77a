// JSON bodies as RocketMQ's Java side reads and writes them (fastjson). Standard JSON except
// for map keys that are not strings: fastjson writes them unquoted, numbers as digits
// (TopicRouteData.brokerAddrs: `{0:"10.0.0.1:10911"}`) and objects as their JSON
// (ConsumeStats.offsetTable: `{{"brokerName":"a","queueId":0,"topic":"t"}:{...}}`), which
// JSON.parse refuses. fastjson reads quoted keys into Long or object keys as well, and ali-ons
// evaluates numeric unquoted keys, so the writer quotes nothing it need not and leaves numeric
// and object keys of a Map unquoted, as fastjson does.

/** Deepest nesting parseFastjson accepts: bodies are shallow, and a hostile one must not
 *  exhaust the stack. */
export const FASTJSON_DEPTH_MAX = 64;

/**
 * Parses fastjson's output. Objects come back as null-prototype objects; an unquoted numeric key
 * becomes its digits as a string (`brokerAddrs['0']`), an object or array key becomes its
 * canonical JSON text (JSON.stringify of the parsed key). Integers beyond 2^53 (Java longs)
 * come back as bigint so no digit is lost. Throws SyntaxError with the offset of the problem.
 */
export function parseFastjson(text: string): unknown {
  const p = new Parser(text);
  p.ws();
  const value = p.value(0);
  p.ws();
  if (p.at < text.length) p.fail('unexpected text after the value');
  return value;
}

class Parser {
  at = 0;
  constructor(private readonly s: string) {}

  fail(what: string): never {
    throw new SyntaxError(`fastjson: ${what} at offset ${this.at}`);
  }

  ws(): void {
    while (this.at < this.s.length) {
      const c = this.s.charCodeAt(this.at);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      this.at++;
    }
  }

  value(depth: number): unknown {
    if (depth > FASTJSON_DEPTH_MAX) this.fail(`nesting deeper than ${FASTJSON_DEPTH_MAX}`);
    const c = this.s[this.at];
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"') return this.string();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (this.s.startsWith(word, this.at)) {
        this.at += word.length;
        return v;
      }
    }
    return this.fail(c === undefined ? 'unexpected end' : `unexpected ${JSON.stringify(c)}`);
  }

  private object(depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = Object.create(null);
    this.at++; // {
    this.ws();
    if (this.s[this.at] === '}') {
      this.at++;
      return out;
    }
    for (;;) {
      this.ws();
      const key = this.key(depth);
      this.ws();
      this.expect(':');
      this.ws();
      out[key] = this.value(depth + 1);
      this.ws();
      if (this.s[this.at] === ',') this.at++;
      else if (this.s[this.at] === '}') {
        this.at++;
        return out;
      } else this.fail("expected ',' or '}'");
    }
  }

  private key(depth: number): string {
    const c = this.s[this.at];
    if (c === '"') return this.string();
    if (c === '{' || c === '[') return JSON.stringify(toPlain(this.value(depth + 1)));
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return String(this.number());
    return this.fail('expected a key');
  }

  private array(depth: number): unknown[] {
    const out: unknown[] = [];
    this.at++; // [
    this.ws();
    if (this.s[this.at] === ']') {
      this.at++;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value(depth + 1));
      this.ws();
      if (this.s[this.at] === ',') this.at++;
      else if (this.s[this.at] === ']') {
        this.at++;
        return out;
      } else this.fail("expected ',' or ']'");
    }
  }

  private expect(c: string): void {
    if (this.s[this.at] !== c) this.fail(`expected '${c}'`);
    this.at++;
  }

  private string(): string {
    // Find the closing quote (skipping escapes), then let JSON.parse do the unescaping.
    const start = this.at;
    this.at++;
    while (this.at < this.s.length) {
      const c = this.s.charCodeAt(this.at);
      if (c === 0x22) {
        this.at++;
        try {
          return JSON.parse(this.s.slice(start, this.at)) as string;
        } catch {
          this.at = start;
          return this.fail('bad string');
        }
      }
      this.at += c === 0x5c ? 2 : 1;
    }
    this.at = start;
    return this.fail('unterminated string');
  }

  private number(): number | bigint {
    const m = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
    m.lastIndex = this.at;
    const found = m.exec(this.s);
    if (!found) return this.fail('bad number');
    this.at += found[0].length;
    const n = Number(found[0]);
    if (found[1] === undefined && found[2] === undefined && !Number.isSafeInteger(n)) return BigInt(found[0]);
    return n;
  }
}

/** Null-prototype objects from the parser, as plain ones, for JSON.stringify of a key. */
function toPlain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(toPlain);
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toPlain(x)]));
  return v;
}

/**
 * Writes `value` as fastjson would: like JSON.stringify, except that a Map's number and bigint
 * keys are written unquoted and its object keys as their JSON, bigint values as digits,
 * Uint8Arrays as base64 (fastjson's byte[]), and null or undefined object fields are left out
 * (fastjson's default). Plain objects keep their insertion order.
 */
export function stringifyFastjson(value: unknown): string {
  return write(value, 0);
}

function write(v: unknown, depth: number): string {
  if (depth > FASTJSON_DEPTH_MAX) throw new RangeError(`fastjson: nesting deeper than ${FASTJSON_DEPTH_MAX}`);
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new RangeError(`fastjson: ${v} has no JSON form`);
    return JSON.stringify(v);
  }
  if (typeof v === 'string' || typeof v === 'boolean') return JSON.stringify(v);
  if (v instanceof Uint8Array) return JSON.stringify(Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64'));
  if (Array.isArray(v)) return `[${v.map((x) => write(x, depth + 1)).join(',')}]`;
  if (v instanceof Set) return write([...v], depth);
  if (v instanceof Map) {
    const parts: string[] = [];
    for (const [k, x] of v) {
      if (x === null || x === undefined) continue;
      parts.push(`${mapKey(k, depth)}:${write(x, depth + 1)}`);
    }
    return `{${parts.join(',')}}`;
  }
  if (typeof v === 'object') {
    const parts: string[] = [];
    for (const [k, x] of Object.entries(v)) {
      if (x === null || x === undefined) continue;
      parts.push(`${JSON.stringify(k)}:${write(x, depth + 1)}`);
    }
    return `{${parts.join(',')}}`;
  }
  throw new TypeError(`fastjson: cannot write a ${typeof v}`);
}

function mapKey(k: unknown, depth: number): string {
  if (typeof k === 'string') return JSON.stringify(k);
  if (typeof k === 'number' || typeof k === 'bigint') return write(k, depth + 1);
  if (typeof k === 'object' && k !== null) return write(k, depth + 1);
  return JSON.stringify(String(k));
}
