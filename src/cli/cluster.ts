// raftmq cluster: a local broker group of child processes with generated configs.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeConfig, renderConfig } from '../broker/index.ts';
import { NAMESRV_PORT_DEFAULT, type NodeStatus } from '../protocol/index.ts';
import { Connection } from '../net/index.ts';
import { parseFlagsOrHelp, UsageError, type CommandSpec } from './args.ts';

const SPEC: CommandSpec = {
  usage: 'raftmq cluster [--groups G] [--nodes 3|5] [--dir DIR] [--base-port P] [--namesrv-port P | --no-namesrv]',
  summary:
    'Runs a local cluster: a NameServer (`raftmq namesrv`, log in DIR/namesrv.log) and G broker groups\n' +
    '(brokerName broker-a, broker-b, ...; brokerClusterName DefaultCluster) of N replicas, each one\n' +
    '`raftmq node` child process with a generated broker.conf (namesrvAddr set) under DIR/<id>/ (one\n' +
    'group) or DIR/<brokerName>/<id>/. Group g\'s client ports are P+10g, P+10g+1, ...; its Raft peer\n' +
    'ports 10000 above, its Prometheus metrics ports (GET /metrics; raftmq dashboard reads them) 20000\n' +
    'above. Prints the NameServer\'s address, each replica, then each group\'s master once elected and\n' +
    'every master change. --no-namesrv: the group alone, without a NameServer (one group only).\n' +
    'Ctrl-C stops them all gracefully. Replica logs: <its dir>/logs/broker.log.',
  flags: [
    { name: 'groups', kind: 'int', help: 'broker groups', default: 1, min: 1, max: 8 },
    { name: 'nodes', kind: 'int', help: 'replicas in each group', default: 3, min: 1, max: 7 },
    { name: 'dir', kind: 'string', help: 'data directory (one sub-directory per replica)', default: './data' },
    { name: 'base-port', kind: 'int', help: 'first client port', default: 10911, min: 1024, max: 35000 },
    { name: 'namesrv-port', kind: 'int', help: "the NameServer's port", default: NAMESRV_PORT_DEFAULT, min: 1024, max: 65535 },
    { name: 'no-namesrv', kind: 'bool', help: 'start no NameServer (brokers get no namesrvAddr)' },
    { name: 'flush', kind: 'string', help: 'flushDiskType', default: 'SYNC_FLUSH', choices: ['SYNC_FLUSH', 'ASYNC_FLUSH'] },
    { name: 'host', kind: 'string', help: 'address to listen on', default: '127.0.0.1' },
  ],
};

/** How long children get to stop gracefully before SIGKILL. */
const STOP_GRACE_MS = 10_000;
const STATUS_POLL_MS = 100;
// Below Linux's ephemeral range (32768-60999 by default): a listening port inside it can be
// taken, a moment before the replica binds it, as the local port of some outgoing connection
// (seen: "EADDRINUSE 127.0.0.1:40912" when a local group started). RocketMQ's DLedger examples
// use 40911, which has that problem.
const PEER_PORT_OFFSET = 10_000;
/** Metrics ports sit above the peer ports, below the ephemeral range for the default base port. */
const METRICS_PORT_OFFSET = 20_000;
/** Group g's ports start g * 10 above the base port: room for the largest group (7 replicas). */
export const GROUP_PORT_STRIDE = 10;
/** RocketMQ's default cluster name, which broker.conf defaults to as well. */
export const CLUSTER_NAME_DEFAULT = 'DefaultCluster';

/** Whether this module runs from the TypeScript sources (development, under tsx) or from the
 *  built JavaScript (the npm package, which has no tsx); children run the same kind of files. */
const FROM_SOURCES = import.meta.url.endsWith('.ts');
const MAIN = fileURLToPath(new URL(FROM_SOURCES ? './main.ts' : './main.js', import.meta.url));
/**
 * tsx's loader as an absolute URL (null when running the built JavaScript): a bare `--import tsx`
 * resolves from the child's working directory, so `raftmq cluster` started anywhere but the
 * project (npx --prefix, a global install) had every replica exit with code 1 at once.
 */
export const TSX_LOADER: string | null = FROM_SOURCES ? import.meta.resolve('tsx') : null;
/** Node.js flags that let a child process run this tree's modules: tsx's loader from the sources,
 *  none from the built JavaScript. */
export const LOADER_FLAGS: readonly string[] = TSX_LOADER === null ? [] : ['--import', TSX_LOADER];

interface Child {
  readonly id: string;
  readonly clientAddr: string;
  readonly metricsAddr: string;
  readonly confPath: string;
  proc: ChildProcess;
  exited: boolean;
}

/** Writes DIR/<id>/broker.conf for every node; returns their paths. */
export function writeClusterConfigs(opts: { nodes: number; dir: string; basePort: number; host: string; flush: string; extra?: Record<string, string> }): { id: string; confPath: string; clientAddr: string; metricsAddr: string }[] {
  const ids = Array.from({ length: opts.nodes }, (_, i) => `n${i}`);
  const peers = ids.map((id, i) => `${id}-${opts.host}:${opts.basePort + PEER_PORT_OFFSET + i}`).join(';');
  return ids.map((id, i) => {
    const nodeDir = path.resolve(opts.dir, id);
    fs.mkdirSync(nodeDir, { recursive: true });
    const config = makeConfig({
      dLegerPeers: peers,
      dLegerSelfId: id,
      listenPort: String(opts.basePort + i),
      brokerIP1: opts.host,
      storePathRootDir: nodeDir,
      flushDiskType: opts.flush,
      metricsPromExporterPort: String(opts.basePort + METRICS_PORT_OFFSET + i),
      ...opts.extra,
    });
    const confPath = path.join(nodeDir, 'broker.conf');
    fs.writeFileSync(confPath, renderConfig(config));
    return { id, confPath, clientAddr: `${opts.host}:${opts.basePort + i}`, metricsAddr: `${opts.host}:${config.metricsPromExporterPort}` };
  });
}

/**
 * V8 heap settings for a replica process. A replica's live heap is small but it moves tens of
 * MB/s through short-lived objects and buffers; with V8's defaults the old-generation limit stays
 * tiny and every few MB promoted starts a full mark-compact. A larger young generation lets
 * request objects die young, and a larger initial old space stops back-to-back full collections
 * (`npm run bench` shows the CPU it saves). Resident memory grows by at most the young
 * generation (2 x 32 MiB).
 */
export const REPLICA_V8_FLAGS: readonly string[] = ['--max-semi-space-size=32', '--min-semi-space-size=16', '--initial-old-space-size=128'];

/**
 * Environment of a replica process: glibc malloc tuned unless the caller's environment sets the
 * variable itself, so resident memory stays flat under load (a long `npm run bench` run shows it;
 * figures in docs/performance.md).
 * - MALLOC_ARENA_MAX=2: with one arena per thread that mallocs (LevelDB's compaction thread,
 *   libuv's pool, V8's helpers) a replica's resident memory creeps up under load.
 * - MALLOC_MMAP_THRESHOLD_=131072: a fixed threshold. glibc's default one rises to the size of
 *   every large block freed (up to 32 MiB): once a replica has freed one of its multi-MiB buffers,
 *   blocks below that size, such as frames assembled from several socket reads, come from the
 *   arenas and fragment them.
 */
export const REPLICA_MALLOC_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' };

export function replicaEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const [k, v] of Object.entries(REPLICA_MALLOC_ENV)) env[k] = base[k] ?? v;
  return env;
}

/**
 * Extra Node.js flags for replica processes, whitespace-separated, from RAFTMQ_REPLICA_NODE_FLAGS
 * (how `bench --cpu-prof` profiles the replicas: Node refuses --cpu-prof in NODE_OPTIONS).
 */
export function replicaExtraNodeFlags(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.RAFTMQ_REPLICA_NODE_FLAGS ?? '').split(/\s+/).filter((f) => f !== '');
}

/** Starts `raftmq node --config conf` as a child in its own process group. */
export function spawnNode(confPath: string, stdio: 'ignore' | 'inherit' | 'pipe' = 'ignore', extraArgs: readonly string[] = []): ChildProcess {
  const args = [...REPLICA_V8_FLAGS, ...replicaExtraNodeFlags(), ...LOADER_FLAGS, MAIN, 'node', '--config', confPath, ...extraArgs];
  return spawn(process.execPath, args, {
    stdio: ['ignore', 'ignore', stdio],
    detached: true,
    env: replicaEnv(),
  });
}

export async function queryStatus(addr: string, timeoutMs = 300): Promise<NodeStatus | null> {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
  const conn = new Connection({ host, port, reconnect: 'lazy', requestTimeoutMs: timeoutMs, connectTimeoutMs: timeoutMs });
  try {
    const resp = await conn.request<{ type: 'status'; id: number; status: NodeStatus }>({ type: 'status' });
    return resp.status;
  } catch {
    return null;
  } finally {
    await conn.close();
  }
}

/** Where to look for why a replica exited: the last line of its log, or a foreground run (a
 *  replica that fails before its log is open, on a bad config or a port in use, says why only on
 *  stderr). */
export function exitHint(confPath: string): string {
  const logFile = path.join(path.dirname(confPath), 'logs', 'broker.log');
  let last = '';
  try {
    const text = fs.readFileSync(logFile, 'utf8');
    last = text.trimEnd().split('\n').pop() ?? '';
  } catch {
    // no log yet
  }
  const foreground = `run \`raftmq node --config ${confPath}\` in the foreground to see why`;
  return last === '' ? `no log yet; ${foreground}` : `last line of ${logFile}: ${last.slice(0, 500)}`;
}

/** The brokerName of group g (0-based): broker-a, broker-b, ... as RocketMQ's examples name them. */
export function brokerNameOf(g: number): string {
  if (!Number.isInteger(g) || g < 0 || g >= 26) throw new RangeError(`group index ${g} is not in 0..25`);
  return `broker-${String.fromCharCode(97 + g)}`;
}

/** Starts `raftmq namesrv --port P --host H` as a child in its own process group; its stdout and
 *  stderr go to `stdio`: a file descriptor (`raftmq cluster`: a launcher that exits must not
 *  break the NameServer's pipe), a pipe (tests read its "listening" line) or nowhere. */
export function spawnNamesrv(port: number, host: string, stdio: number | 'pipe' | 'ignore' = 'ignore'): ChildProcess {
  return spawn(process.execPath, [...LOADER_FLAGS, MAIN, 'namesrv', '--port', String(port), '--host', host], { stdio: ['ignore', stdio, stdio], detached: true });
}

interface Group {
  readonly brokerName: string;
  readonly children: Child[];
  lastMaster: string;
}

export async function run(argv: string[]): Promise<number> {
  const flags = parseFlagsOrHelp(SPEC, argv);
  if (flags === null) return 0;
  const nodes = Number(flags.nodes);
  if (nodes % 2 === 0) throw new UsageError(`--nodes should be odd (3 or 5): ${nodes} replicas tolerate no more failures than ${nodes - 1}`);
  const groupCount = Number(flags.groups);
  const withNamesrv = flags['no-namesrv'] !== true;
  if (!withNamesrv && groupCount > 1) throw new UsageError('--groups needs the NameServer: clients find the groups through it (drop --no-namesrv)');
  const dir = String(flags.dir);
  const host = String(flags.host);
  const basePort = Number(flags['base-port']);
  const namesrvPort = Number(flags['namesrv-port']);
  if (withNamesrv) checkNamesrvPort(namesrvPort, basePort, groupCount);
  const namesrvAddr = `${host}:${namesrvPort}`;

  let stopping = false;
  let namesrv: { proc: ChildProcess; exited: boolean } | null = null;
  if (withNamesrv) {
    fs.mkdirSync(dir, { recursive: true });
    const logPath = path.join(dir, 'namesrv.log');
    const logFd = fs.openSync(logPath, 'a');
    const proc = spawnNamesrv(namesrvPort, host, logFd);
    fs.closeSync(logFd);
    namesrv = { proc, exited: false };
    console.log(`namesrv: ${namesrvAddr} pid=${proc.pid} log=${logPath}`);
    proc.on('exit', (code, signal) => {
      namesrv!.exited = true;
      if (stopping) return;
      const last = fs.readFileSync(logPath, 'utf8').trimEnd().split('\n').pop() ?? '';
      console.log(`namesrv exited (${signal ?? `code ${code}`}); restart it with: raftmq namesrv --port ${namesrvPort} --host ${host}${last ? `; last line of ${logPath}: ${last.slice(0, 500)}` : ''}`);
    });
  }

  const groups: Group[] = Array.from({ length: groupCount }, (_, g) => {
    const brokerName = brokerNameOf(g);
    const specs = writeClusterConfigs({
      nodes,
      dir: groupCount === 1 ? dir : path.join(dir, brokerName),
      basePort: basePort + g * GROUP_PORT_STRIDE,
      host,
      flush: String(flags.flush),
      extra: { brokerName, brokerClusterName: CLUSTER_NAME_DEFAULT, ...(withNamesrv ? { namesrvAddr } : {}) },
    });
    return { brokerName, children: specs.map((spec) => ({ ...spec, proc: spawnNode(spec.confPath, 'ignore'), exited: false })), lastMaster: '' };
  });
  // One group prints as it always has; several name the group in front of each line.
  const label = (group: Group, what: string): string => (groupCount === 1 ? what : `${group.brokerName} ${what}`);
  for (const group of groups) {
    for (const c of group.children) {
      console.log(label(group, `${c.id} client=${c.clientAddr} pid=${c.proc.pid} metrics=http://${c.metricsAddr}/metrics conf=${c.confPath}`));
      c.proc.on('exit', (code, signal) => {
        c.exited = true;
        if (stopping) return;
        console.log(label(group, `${c.id} exited (${signal ?? `code ${code}`}); restart it with: raftmq node --config ${c.confPath}`));
        // Its stderr is not kept (a launcher that dies must not take the replicas with it through
        // a broken pipe), so say where the reason is.
        if (code !== 0 && signal === null) console.log(label(group, `${c.id}: ${exitHint(c.confPath)}`));
      });
    }
  }

  const poll = setInterval(() => {
    for (const group of groups) {
      void (async () => {
        const statuses = await Promise.all(group.children.filter((c) => !c.exited).map((c) => queryStatus(c.clientAddr)));
        const master = statuses.find((s) => s?.role === 'MASTER');
        const key = master ? `${master.nodeId}@${master.term}` : '';
        if (!stopping && master && key !== group.lastMaster) {
          group.lastMaster = key;
          console.log(label(group, `master: ${master.nodeId} at ${master.addr} (term ${master.term})`));
        }
      })();
    }
  }, STATUS_POLL_MS);

  const children = groups.flatMap((g) => g.children);
  return await new Promise<number>((resolve) => {
    const stopAll = (): void => {
      if (stopping) return;
      stopping = true;
      clearInterval(poll);
      console.log(`stopping all nodes${namesrv ? ', then the namesrv' : ''}...`);
      for (const c of children) if (!c.exited) c.proc.kill('SIGTERM');
      const killer = setTimeout(() => {
        for (const c of children) if (!c.exited) c.proc.kill('SIGKILL');
        if (namesrv && !namesrv.exited) namesrv.proc.kill('SIGKILL');
      }, STOP_GRACE_MS);
      // The NameServer goes last: replicas that stop may still tell it so.
      let namesrvStopped = false;
      const check = setInterval(() => {
        if (!children.every((c) => c.exited)) return;
        if (namesrv && !namesrv.exited) {
          if (!namesrvStopped) namesrv.proc.kill('SIGTERM');
          namesrvStopped = true;
          return;
        }
        clearInterval(check);
        clearTimeout(killer);
        console.log('all nodes stopped');
        resolve(0);
      }, 20);
    };
    process.on('SIGINT', stopAll);
    process.on('SIGTERM', stopAll);
  });
}

/** The NameServer's port must not be one a replica of the `groups` groups listens on. */
export function checkNamesrvPort(namesrvPort: number, basePort: number, groups: number): void {
  for (const offset of [0, PEER_PORT_OFFSET, METRICS_PORT_OFFSET]) {
    const first = basePort + offset;
    const last = first + (groups - 1) * GROUP_PORT_STRIDE + GROUP_PORT_STRIDE - 1;
    if (namesrvPort >= first && namesrvPort <= last) throw new UsageError(`--namesrv-port ${namesrvPort} is among the replicas' ports (${first}..${last}): pick another`);
  }
}
