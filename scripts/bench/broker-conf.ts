// bench --set KEY=VALUE,...: broker.conf keys for every replica of a bench run.
import { parseConfig } from '../../src/broker/index.ts';
import { UsageError } from '../../src/cli/index.ts';

/** Keys the bench sets itself (a flag of its own, or the group's layout). */
const BENCH_OWNED_KEYS: ReadonlySet<string> = new Set(['flushDiskType', 'dLegerPeers', 'dLegerSelfId', 'clientPeers', 'listenPort', 'brokerIP1', 'storePathRootDir', 'metricsPromExporterPort']);

/** --set KEY=VALUE,...: checked as broker.conf lines are (unknown keys and bad values refused). */
export function brokerConfFrom(given: unknown): Readonly<Record<string, string>> {
  if (given === undefined) return {};
  const out: Record<string, string> = {};
  for (const item of String(given).split(',')) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set: expected KEY=VALUE, got "${item}"`);
    const key = item.slice(0, eq).trim();
    const use = key === 'flushDiskType' ? ' (use --flush)' : key === 'metricsPromExporterPort' ? ' (use --metrics on|both: each replica needs a port of its own)' : '';
    if (BENCH_OWNED_KEYS.has(key)) throw new UsageError(`--set: ${key} is set by the bench${use}`);
    if (key in out) throw new UsageError(`--set: ${key} is given twice`);
    out[key] = item.slice(eq + 1).trim();
  }
  const lines = Object.entries(out).map(([k, v]) => `${k}=${v}`);
  try {
    parseConfig(['dLegerPeers=n0-127.0.0.1:1', 'dLegerSelfId=n0', ...lines].join('\n'), '--set');
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/ \(line \d+\)/, ''));
  }
  return out;
}
