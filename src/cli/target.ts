// Where a command finds the brokers: a direct --servers list (one broker group), or NameServers
// (--namesrv, else RocketMQ's NAMESRV_ADDR) that know every group of the cluster. Commands that
// act on one group take --broker-name to pick it when the NameServer knows several.
import { ClusterAdmin, groupServers, namesrvAddrFromEnv, NAMESRV_ADDR_ENV, parseNamesrvAddr, type BrokerData } from '../client/index.ts';
import { parseServers, UsageError, type FlagSpec, type FlagValues } from './args.ts';

export const SERVERS_FLAG: FlagSpec = { name: 'servers', kind: 'string', help: 'client addresses of one group\'s replicas (or --namesrv)' };
export const NAMESRV_FLAG: FlagSpec = { name: 'namesrv', short: ['n'], kind: 'string', help: `NameServers host:port[;host:port] (default: $${NAMESRV_ADDR_ENV})` };
/** Not `--group`: several commands use that for the consumer group already. */
export const BROKER_NAME_FLAG: FlagSpec = { name: 'broker-name', kind: 'string', help: 'with --namesrv: the broker group to act on (its brokerName), when there are several' };
/** The three flags of a command that acts on one broker group. */
export const GROUP_TARGET_FLAGS: readonly FlagSpec[] = [SERVERS_FLAG, NAMESRV_FLAG, BROKER_NAME_FLAG];

export type Target = { readonly kind: 'servers'; readonly servers: string[] } | { readonly kind: 'namesrv'; readonly namesrv: string[]; readonly brokerName: string | null };

/** The command's --servers, --namesrv or NAMESRV_ADDR (in that order of precedence: an explicit
 *  flag beats the environment). UsageError for both flags, neither, or a bad address. */
export function targetOf(flags: FlagValues, env: NodeJS.ProcessEnv = process.env): Target {
  const brokerName = flags['broker-name'] === undefined ? null : String(flags['broker-name']);
  if (flags.servers !== undefined && flags.namesrv !== undefined) throw new UsageError('give --servers or --namesrv, not both');
  if (flags.servers !== undefined) {
    if (brokerName !== null) throw new UsageError('--broker-name picks a group the NameServer knows: it goes with --namesrv, not --servers');
    return { kind: 'servers', servers: parseServers(String(flags.servers)) };
  }
  if (flags.namesrv !== undefined) return { kind: 'namesrv', namesrv: asUsage('--namesrv', () => parseNamesrvAddr(String(flags.namesrv))), brokerName };
  const fromEnv = asUsage(NAMESRV_ADDR_ENV, () => namesrvAddrFromEnv(env));
  if (fromEnv !== null) return { kind: 'namesrv', namesrv: fromEnv, brokerName };
  throw new UsageError(`give --servers H:P[,H:P...] or --namesrv H:P[;H:P...] (or set ${NAMESRV_ADDR_ENV})`);
}

/** The NameServers of a command that needs them (the cluster's views): --servers is refused. */
export function namesrvOf(flags: FlagValues, env: NodeJS.ProcessEnv = process.env): string[] {
  const target = targetOf(flags, env);
  if (target.kind !== 'namesrv') throw new UsageError('this command reads the NameServer: give --namesrv (or set NAMESRV_ADDR) instead of --servers');
  return target.namesrv;
}

/** The group `brokerName` names among `groups`, or the only one; UsageError otherwise, naming them. */
export function pickGroup(groups: readonly BrokerData[], brokerName: string | null): BrokerData {
  const names = groups.map((g) => g.brokerName).join(', ');
  if (groups.length === 0) throw new Error('the NameServer knows no broker group: are the brokers started with namesrvAddr in their broker.conf?');
  if (brokerName === null) {
    if (groups.length > 1) throw new UsageError(`the cluster has several broker groups (${names}): pick one with --broker-name`);
    return groups[0]!;
  }
  const found = groups.find((g) => g.brokerName === brokerName);
  if (found === undefined) throw new UsageError(`--broker-name: the NameServer knows no group ${brokerName} (known: ${names})`);
  return found;
}

/** The client addresses of the one group a command acts on: --servers as given, or the group's
 *  live replicas as the NameServer lists them. */
export async function groupServersOf(target: Target): Promise<{ brokerName: string | null; servers: string[] }> {
  if (target.kind === 'servers') return { brokerName: null, servers: target.servers };
  const admin = new ClusterAdmin({ namesrv: target.namesrv });
  try {
    const group = pickGroup(await admin.groups(), target.brokerName);
    const servers = groupServers(group);
    if (servers.length === 0) throw new Error(`the NameServer lists no live replica of ${group.brokerName}`);
    return { brokerName: group.brokerName, servers };
  } finally {
    await admin.close();
  }
}

/** Every replica a command that watches replicas asks: --servers as given; with --namesrv the
 *  group --broker-name names, or every group the NameServer lists. */
export async function replicasOf(target: Target): Promise<string[]> {
  if (target.kind === 'servers' || target.brokerName !== null) return (await groupServersOf(target)).servers;
  const admin = new ClusterAdmin({ namesrv: target.namesrv });
  try {
    const servers = (await admin.groups()).flatMap(groupServers);
    if (servers.length === 0) throw new Error('the NameServer lists no replica: are the brokers started with namesrvAddr in their broker.conf?');
    return servers;
  } finally {
    await admin.close();
  }
}

/** A client function's TypeError for malformed input as the CLI's one-line UsageError. */
function asUsage<T>(what: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof TypeError) throw new UsageError(`${what}: ${err.message}`);
    throw err;
  }
}
