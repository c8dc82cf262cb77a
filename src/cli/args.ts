// A small, strict flag parser for the raftmq CLI: every flag is declared, unknown flags and bad
// values are one clear line, and the declarations double as the --help text. A flag may also
// have one-letter spellings (`-n` for --namesrv, as RocketMQ's mqadmin spells its options).
import { CodedError } from '../util/index.ts';

export interface FlagSpec {
  readonly name: string;
  /** One-letter spellings (`['n']`: `-n VALUE`), mqadmin's where it has one. */
  readonly short?: readonly string[];
  readonly kind: 'string' | 'int' | 'bool';
  readonly help: string;
  readonly default?: string | number | boolean;
  readonly required?: boolean;
  readonly min?: number;
  readonly max?: number;
  readonly choices?: readonly string[];
}

export interface CommandSpec {
  readonly usage: string;
  readonly summary: string;
  readonly flags: readonly FlagSpec[];
}

/** A command line that cannot run: the command prints the message and its usage. */
export class UsageError extends CodedError<'USAGE'> {
  override readonly name = 'UsageError';
  constructor(message: string) {
    super('USAGE', message);
  }
}

export type FlagValues = Record<string, string | number | boolean | undefined>;

export function helpText(spec: CommandSpec): string {
  const lines = [`usage: ${spec.usage}`, '', spec.summary, '', 'options:'];
  for (const f of spec.flags) {
    const arg = f.kind === 'bool' ? '' : f.kind === 'int' ? ' N' : ' VALUE';
    const def = f.default !== undefined && f.kind !== 'bool' ? ` (default ${String(f.default)})` : '';
    const req = f.required ? ' (required)' : '';
    const shorts = (f.short ?? []).map((c) => `-${c}, `).join('');
    lines.push(`  ${shorts}--${f.name}${arg}`.padEnd(28) + `${f.help}${def}${req}`);
  }
  lines.push('  --help'.padEnd(28) + 'show this help');
  return lines.join('\n');
}

/** `-x` as a short spelling (one letter after one dash), else null. */
function shortLetter(arg: string): string | null {
  return /^-[A-Za-z]$/.test(arg) ? arg[1]! : null;
}

/** The spec's flags by long name and by short letter; a letter used twice is a programming error. */
function flagIndex(spec: CommandSpec): { byName: Map<string, FlagSpec>; byShort: Map<string, FlagSpec> } {
  const byName = new Map(spec.flags.map((f) => [f.name, f]));
  const byShort = new Map<string, FlagSpec>();
  for (const f of spec.flags) {
    for (const c of f.short ?? []) {
      if (!/^[A-Za-z]$/.test(c) || c === 'h' || byShort.has(c)) throw new Error(`flag spec: -${c} of --${f.name} is not a free single letter`);
      byShort.set(c, f);
    }
  }
  return { byName, byShort };
}

/**
 * Parses `--name value`, `--name=value`, `-x value` (a declared short spelling) and bare `--flag`
 * booleans. Returns null for --help. A flag given twice with different values is refused (which
 * one was meant?); twice with the same value is fine (RocketMQ's `-r 8 -w 8`).
 */
export function parseFlags(spec: CommandSpec, argv: readonly string[]): FlagValues | null {
  const { byName, byShort } = flagIndex(spec);
  const out: FlagValues = {};
  const given = new Map<string, string>();
  for (const f of spec.flags) if (f.default !== undefined) out[f.name] = f.default;
  const isFlag = (a: string): boolean => a.startsWith('--') || (shortLetter(a) !== null && byShort.has(shortLetter(a)!));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return null;
    const letter = shortLetter(arg);
    if (letter === null && !arg.startsWith('--')) throw new UsageError(`unexpected argument "${arg}" (see --help)`);
    const eq = letter === null ? arg.indexOf('=') : -1;
    const name = letter !== null ? (byShort.get(letter)?.name ?? '') : eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    const f = byName.get(name);
    if (!f) throw new UsageError(`unknown option ${letter !== null ? arg : `--${name}`} (see --help)`);
    const spelled = letter !== null ? `${arg} (--${name})` : `--${name}`;
    let value: string | number | boolean;
    if (f.kind === 'bool') {
      if (eq > 0) throw new UsageError(`--${name} takes no value`);
      value = true;
    } else {
      let raw: string | undefined;
      if (eq > 0) raw = arg.slice(eq + 1);
      else {
        raw = argv[++i];
        if (raw === undefined || isFlag(raw)) throw new UsageError(`${spelled} needs a value`);
      }
      value = convert(f, raw);
    }
    const before = given.get(name);
    if (before !== undefined && before !== String(value)) throw new UsageError(`--${name} is given twice, as ${before} and ${String(value)}`);
    given.set(name, String(value));
    out[name] = value;
  }
  for (const f of spec.flags) {
    if (f.required && out[f.name] === undefined) throw new UsageError(`--${f.name} is required (see --help)`);
  }
  return out;
}

function convert(f: FlagSpec, raw: string): string | number {
  if (f.kind === 'int') {
    if (!/^-?\d+$/.test(raw)) throw new UsageError(`--${f.name} must be an integer, got "${raw}"`);
    const n = Number(raw);
    if ((f.min !== undefined && n < f.min) || (f.max !== undefined && n > f.max)) {
      throw new UsageError(`--${f.name} must be in ${f.min ?? '-inf'}..${f.max ?? 'inf'}, got ${n}`);
    }
    return n;
  }
  if (f.choices && !f.choices.includes(raw)) throw new UsageError(`--${f.name} must be one of ${f.choices.join(', ')}, got "${raw}"`);
  return raw;
}

/** Splits a command line into its positional arguments (in order) and its flags (each with its
 *  value, when the spec says it takes one), for parseFlags. */
export function splitPositionals(spec: CommandSpec, argv: readonly string[]): { positionals: string[]; flagArgs: string[] } {
  const { byName, byShort } = flagIndex(spec);
  const takesValue = (arg: string): boolean => {
    const letter = shortLetter(arg);
    const f = letter !== null ? byShort.get(letter) : arg.includes('=') ? undefined : byName.get(arg.slice(2));
    return f !== undefined && f.kind !== 'bool';
  };
  const positionals: string[] = [];
  const flagArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-')) {
      positionals.push(arg);
      continue;
    }
    flagArgs.push(arg);
    const next = argv[i + 1];
    if (takesValue(arg) && next !== undefined && !next.startsWith('--')) flagArgs.push(argv[++i]!);
  }
  return { positionals, flagArgs };
}

/** parseFlags, printing the help (and returning null) for --help. */
export function parseFlagsOrHelp(spec: CommandSpec, argv: readonly string[]): FlagValues | null {
  const flags = parseFlags(spec, argv);
  if (flags === null) console.log(helpText(spec));
  return flags;
}

/** "h:p,h:p" -> ["h:p", ...], each checked. */
export function parseServers(value: string): string[] {
  const list = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw new UsageError('--servers needs at least one host:port');
  for (const s of list) {
    const m = /^(.+):(\d{1,5})$/.exec(s);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new UsageError(`--servers: "${s}" is not host:port`);
  }
  return list;
}

/** ISO 8601 as `Date.parse` reads it exactly: a date, optionally a time, optionally a zone. */
const ISO_8601_PATTERN = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/** A point in time given as ms since the epoch or as ISO 8601 (a date alone is UTC midnight,
 *  a time without a zone is local time, as `Date.parse` reads them). Throws UsageError. */
export function parseTimestampMs(value: string, flag: string): number {
  if (/^\d+$/.test(value)) {
    const ms = Number(value);
    if (!Number.isSafeInteger(ms)) throw new UsageError(`--${flag}: ${value} ms is past the largest safe integer`);
    return ms;
  }
  const ms = ISO_8601_PATTERN.test(value) ? Date.parse(value) : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new UsageError(`--${flag} must be ms since the epoch or an ISO 8601 time (e.g. 2026-12-06T14:00:00Z), got "${value}"`);
  }
  return ms;
}
