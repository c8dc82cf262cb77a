// A small, strict flag parser for the raftmq CLI: every flag is declared, unknown flags and bad
// values are one clear line, and the declarations double as the --help text.
import { CodedError } from '../util/index.ts';

export interface FlagSpec {
  readonly name: string;
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
    lines.push(`  --${f.name}${arg}`.padEnd(28) + `${f.help}${def}${req}`);
  }
  lines.push('  --help'.padEnd(28) + 'show this help');
  return lines.join('\n');
}

/** Parses `--name value`, `--name=value` and bare `--flag` booleans. Returns null for --help. */
export function parseFlags(spec: CommandSpec, argv: readonly string[]): FlagValues | null {
  const byName = new Map(spec.flags.map((f) => [f.name, f]));
  const out: FlagValues = {};
  for (const f of spec.flags) if (f.default !== undefined) out[f.name] = f.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') return null;
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument "${arg}" (see --help)`);
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    const f = byName.get(name);
    if (!f) throw new UsageError(`unknown option --${name} (see --help)`);
    if (f.kind === 'bool') {
      if (eq > 0) throw new UsageError(`--${name} takes no value`);
      out[name] = true;
      continue;
    }
    let raw: string | undefined;
    if (eq > 0) raw = arg.slice(eq + 1);
    else {
      raw = argv[++i];
      if (raw === undefined || raw.startsWith('--')) throw new UsageError(`--${name} needs a value`);
    }
    out[name] = convert(f, raw);
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
  const takesValue = new Set(spec.flags.filter((f) => f.kind !== 'bool').map((f) => f.name));
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
    if (!arg.includes('=') && takesValue.has(arg.slice(2)) && next !== undefined && !next.startsWith('--')) flagArgs.push(argv[++i]!);
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
