// broker.conf: RocketMQ-style `key=value` configuration, with RocketMQ/DLedger names where they
// exist. Every key has a documented default (or is required); values are validated at start and
// a bad one is reported in ONE line naming the key and what is expected.
import { readFile } from 'node:fs/promises';
import type { FlushDiskType } from '../commitlog/index.ts';
import { CONNECTIONS_MAX, CONNECTIONS_PER_ADDRESS_MAX, FIRST_FRAME_TIMEOUT_MS, parseAddr } from '../net/index.ts';
import { CodedError } from '../util/index.ts';
import { suggestKey } from './config-suggest.ts';
import { DELAY_LEVEL_COUNT_MAX, formatMessageDelayLevel, parseMessageDelayLevel } from './delay-levels.ts';
import { BROKER_EXPIRY_MS, MESSAGE_DELAY_LEVEL_DEFAULT, REGISTER_NAMESRV_PERIOD_MS_DEFAULT, TOPIC_QUEUE_COUNT_MAX } from '../protocol/index.ts';

export class ConfigError extends CodedError<'BAD_CONFIG'> {
  override readonly name = 'ConfigError';
  /** The key at fault ('' for a line that is not key=value). */
  readonly key: string;
  constructor(key: string, message: string) {
    super('BAD_CONFIG', message);
    this.key = key;
  }
}

export interface PeerAddress {
  readonly id: string;
  readonly host: string;
  readonly port: number;
}

export interface BrokerConfig {
  readonly brokerClusterName: string;
  readonly brokerName: string;
  readonly dLegerGroup: string;
  /** Raft peers in dLegerPeers order (that order also gives the slaves' brokerIds). */
  readonly dLegerPeers: readonly PeerAddress[];
  readonly dLegerSelfId: string;
  /** Join a running group instead of seeding a new one (see CONFIG_KEYS). */
  readonly dLegerJoin: boolean;
  /** Client listener of every peer, same ids and order as dLegerPeers (for routes and
   *  NOT_MASTER redirects). */
  readonly clientPeers: readonly PeerAddress[];
  readonly listenPort: number;
  readonly brokerIP1: string;
  /** Client listener: connections held at once. */
  readonly clientConnectionsMax: number;
  /** Client listener: connections from one remote address at once (at most clientConnectionsMax). */
  readonly clientConnectionsPerAddressMax: number;
  /** Client listener: time a connection has to deliver its first complete request (and that a
   *  request begun may stall). */
  readonly clientFirstFrameTimeoutMs: number;
  readonly storePathRootDir: string;
  readonly flushDiskType: FlushDiskType;
  readonly flushIntervalMs: number;
  /** Commitlog batches of at least this many bytes get their CRCs on a worker thread; 0: never. */
  readonly crcOffloadMinBytes: number;
  /** SYNC_FLUSH commitlog writes with O_DIRECT (bypassing the page cache). */
  readonly directIoEnable: boolean;
  /** Deleted commitlog segment files kept for reuse (see CONFIG_KEYS). */
  readonly recycledSegmentsMax: number;
  /** '' when none. */
  readonly preferredLeaderId: string;
  readonly autoCreateTopicEnable: boolean;
  readonly defaultTopicQueueNums: number;
  /** Consumers far behind read from slaves (RocketMQ's slaveReadEnable; see CONFIG_KEYS). */
  readonly slaveReadEnable: boolean;
  /** Percent of the in-memory log tail a consumer may be behind before it is sent to a slave. */
  readonly accessMessageInMemoryMaxRatio: number;
  readonly mappedFileSizeCommitLog: number;
  readonly tickMs: number;
  readonly electionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly sendTimeoutMs: number;
  readonly checkpointIntervalMs: number;
  /** A follower further than this many log bytes behind is caught up at peerPushQuota while
   *  clients write; 0 (the default): never paced. */
  readonly peerPushThrottlePoint: number;
  /** Bytes per second a paced follower is sent. */
  readonly peerPushQuota: number;
  /** Hours a message is kept at least (RocketMQ's fileReservedTime); fractions allowed. */
  readonly fileReservedTime: number;
  /** Hours of the day (local time) when expired messages are deleted in normal operation. */
  readonly deleteWhen: readonly number[];
  /** Delay levels (RocketMQ's messageDelayLevel), ms per level: delayed sends and retries. */
  readonly messageDelayLevel: readonly number[];
  /** HTTP port of the Prometheus metrics listener (on brokerIP1); 0: off. */
  readonly metricsPromExporterPort: number;
  /** Whether the in-memory message key index (queryMsgByKey) is kept. */
  readonly messageIndexEnable: boolean;
  /** Most (topic, key) entries the key index holds; the oldest go first. */
  readonly maxIndexNum: number;
  /** MiB logs/broker.N.log grows to before the log moves on to the next file. */
  readonly logFileMaxSize: number;
  /** Log files kept, the one being written included; the oldest are deleted. */
  readonly logFileMaxCount: number;
  /** Percent of the store's disk above which expired messages are deleted at any hour (RocketMQ's
   *  diskMaxUsedSpaceRatio). */
  readonly diskMaxUsedSpaceRatio: number;
  /** Percent above which the oldest messages are deleted even before their reserved time. */
  readonly diskSpaceCleanForciblyRatio: number;
  /** Percent above which the master refuses writes with DISK_FULL (reads go on). */
  readonly diskSpaceWarningLevelRatio: number;
  /** How often the store's disk use is sampled (statfs). */
  readonly diskCheckIntervalMs: number;
  /** NameServers (host:port) this replica registers with; empty: none. */
  readonly namesrvAddr: readonly string[];
  /** ms between two registrations with each NameServer (besides those on a change). */
  readonly registerNameServerPeriod: number;
}

export type ConfigKey = keyof BrokerConfig;

export interface ConfigKeyInfo {
  readonly key: ConfigKey;
  /** As written in broker.conf; '(required)' when there is none. */
  readonly default: string;
  readonly description: string;
}

/** Default and highest maxIndexNum (the key index's typed arrays are sized by it at start). */
export const KEY_INDEX_ENTRIES_DEFAULT = 1_000_000;
export const KEY_INDEX_ENTRIES_LIMIT = 50_000_000;
/** Log files: MiB per file and files kept (the one being written included; 1: that one only). */
export const LOG_FILE_MAX_SIZE_DEFAULT = 128;
export const LOG_FILE_MAX_SIZE_LIMIT = 65_536;
export const LOG_FILE_MAX_COUNT_DEFAULT = 10;
export const LOG_FILE_MAX_COUNT_MIN = 1;
export const LOG_FILE_MAX_COUNT_LIMIT = 1000;
/** Most replicas in one group. */
export const PEER_COUNT_MAX = 7;
/** Most NameServers in namesrvAddr (each gets a connection and a registration per period). */
export const NAMESRV_ADDR_COUNT_MAX = 16;
/** registerNameServerPeriod's bounds: at most half the NameServer's expiry, so one lost
 *  registration does not get a replica dropped (RocketMQ allows 10 s to 60 s). */
export const REGISTER_NAMESRV_PERIOD_MS_MIN = 100;
export const REGISTER_NAMESRV_PERIOD_MS_MAX = BROKER_EXPIRY_MS / 2;
/** Highest clientConnectionsMax accepted (each connection is a file descriptor). */
export const CLIENT_CONNECTIONS_MAX_LIMIT = 65_536;
const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,127}$/;
const PEER_ID_PATTERN = /^[A-Za-z0-9_]{1,64}$/;
const HOST_PATTERN = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]{1,253})$/;
const REQUIRED = '(required)';

/** Every key, in the order renderConfig writes them. README and `--help` print this table. */
export const CONFIG_KEYS: readonly ConfigKeyInfo[] = [
  { key: 'brokerClusterName', default: 'DefaultCluster', description: 'Cluster this broker group belongs to.' },
  { key: 'brokerName', default: 'broker-a', description: 'Name of the broker group (all its replicas share it); part of every msgId.' },
  { key: 'dLegerGroup', default: '(= brokerName)', description: 'Raft group name; peers of another group are refused.' },
  { key: 'dLegerPeers', default: REQUIRED, description: 'Raft peers: id-host:port separated by ";" (e.g. n0-127.0.0.1:20911;n1-127.0.0.1:20912;n2-127.0.0.1:20913), 1..7, ids unique.' },
  { key: 'dLegerSelfId', default: REQUIRED, description: 'This replica: one of the dLegerPeers ids.' },
  {
    key: 'dLegerJoin',
    default: 'false',
    description:
      'true: this replica joins a running group (`raftmq member add` adds it): while its store holds no configuration it is no member, never campaigns and waits for the master. ' +
      'dLegerPeers then only says where its own Raft listener is and where to reach members. false: a new store seeds a new group with dLegerPeers as its voters. ' +
      'Either way, once the group has changed its membership the configuration in the log decides, not dLegerPeers.',
  },
  { key: 'clientPeers', default: '(derived)', description: 'Client listener of every peer, same format and ids as dLegerPeers; by default each peer\'s Raft host with its Raft port shifted by listenPort minus this replica\'s Raft port.' },
  { key: 'listenPort', default: '10911', description: 'Client (producer/consumer) TCP port.' },
  { key: 'brokerIP1', default: '127.0.0.1', description: 'Host advertised to clients for this replica.' },
  {
    key: 'clientConnectionsMax',
    default: String(CONNECTIONS_MAX),
    description:
      `Client connections held at once (1..${CLIENT_CONNECTIONS_MAX_LIMIT}). When full, a newcomer evicts the oldest connection that has not yet sent a complete request; ` +
      'only when every connection has is it refused. Keep the open-files limit (ulimit -n) above it.',
  },
  {
    key: 'clientConnectionsPerAddressMax',
    default: String(CONNECTIONS_PER_ADDRESS_MAX),
    description:
      'Client connections from one remote IP address at once (1..clientConnectionsMax), so that one client cannot take every slot. ' +
      'A newcomer from an address at its limit evicts that address\'s oldest connection that has not yet sent a complete request, so a client sharing its address (a NAT, loopback) with silent connections still gets in.',
  },
  {
    key: 'clientFirstFrameTimeoutMs',
    default: String(FIRST_FRAME_TIMEOUT_MS),
    description:
      'A client connection that has not sent a complete request this long after connecting is closed, and so is one that stops this long in the middle of a request (100..600000). ' +
      'Clients send a request as soon as they connect; this frees the slots of connections that send nothing.',
  },
  { key: 'storePathRootDir', default: './store', description: 'Data directory (commitlog segments, state checkpoints, metadata).' },
  { key: 'flushDiskType', default: 'SYNC_FLUSH', description: 'SYNC_FLUSH: fsync (group commit) before a write counts; ASYNC_FLUSH: flush every flushIntervalMs.' },
  { key: 'flushIntervalMs', default: '500', description: 'ASYNC_FLUSH: flush the commitlog at least this often (1..60000).' },
  {
    key: 'crcOffloadMinBytes',
    default: '0',
    description:
      'Commitlog batches of at least this many bytes, written while others are queued, get their CRCs on a worker thread (0: never; e.g. 65536). ' +
      'Helps a replica with a core to spare; off by default because replicas sharing few cores gain no throughput from it (docs/performance.md).',
  },
  {
    key: 'directIoEnable',
    default: 'true',
    description:
      'SYNC_FLUSH: write commitlog data with O_DIRECT and O_DSYNC (no copy into the page cache; each write durable when it returns, less server CPU per message); falls back with a warning where the filesystem refuses it. ' +
      'false writes through the page cache.',
  },
  { key: 'preferredLeaderId', default: '', description: 'A peer id the leader hands leadership to once it is caught up; empty for none.' },
  { key: 'autoCreateTopicEnable', default: 'true', description: 'A send to an unknown topic creates it (with defaultTopicQueueNums queues).' },
  { key: 'defaultTopicQueueNums', default: '4', description: `Queues of an auto-created topic (1..${TOPIC_QUEUE_COUNT_MAX}).` },
  { key: 'slaveReadEnable', default: 'false', description: "Masters send a consumer that is far behind (its next message more than accessMessageInMemoryMaxRatio percent of the log tail the master keeps in memory from the log's end) to a caught-up slave, and slaves send it back once it has caught up (RocketMQ's suggestWhichBrokerId); false: slaves send every consumer to the master." },
  { key: 'accessMessageInMemoryMaxRatio', default: '40', description: 'Percent (1..100) of the log tail a master keeps in memory (its record cache, 16 MiB) that a consumer may be behind, in log bytes, before it is sent to a slave (with slaveReadEnable).' },
  { key: 'mappedFileSizeCommitLog', default: String(1024 ** 3), description: 'Commitlog segment file size in bytes (1 MiB..4 GiB).' },
  {
    key: 'recycledSegmentsMax',
    default: '1',
    description:
      'Commitlog segment files that retention deleted and that are kept (0..64) to become new segments: a durable write into blocks written before needs no file-system journal commit, ' +
      'which makes small SYNC_FLUSH writes faster (docs/performance.md). Each kept file holds a segment\'s disk space until reused; they are given up when the disk fills. 0: deleted segments are unlinked.',
  },
  { key: 'tickMs', default: '10', description: 'Raft logical clock tick (1..1000 ms).' },
  { key: 'electionTimeoutMs', default: '500', description: 'Raft election timeout, randomized in [t, 2t); at least 2 x heartbeatIntervalMs.' },
  { key: 'heartbeatIntervalMs', default: '100', description: 'Leader heartbeat interval; at least tickMs.' },
  { key: 'sendTimeoutMs', default: '3000', description: 'How long a send or other write waits to commit before answering TIMEOUT (1..600000).' },
  { key: 'checkpointIntervalMs', default: '1000', description: 'How often the broker state is checkpointed, bounding the log replay at restart (10..600000).' },
  {
    key: 'peerPushThrottlePoint',
    default: '0',
    description:
      'A follower further behind the master than this many log bytes (as stored) is caught up at peerPushQuota while clients are writing, ' +
      'so that the catch-up leaves live writes the CPU and disk they share with it; with no writes for a second it goes at full speed. ' +
      '0 (the default): never paced, so a replaced disk is back to full redundancy soonest; DLedger paces from 314572800 (300 MiB).',
  },
  { key: 'peerPushQuota', default: String(20 * 1024 ** 2), description: 'Bytes per second a paced follower is sent (65536..; DLedger\'s name and default).' },
  {
    key: 'fileReservedTime',
    default: '72',
    description: 'Hours a message is kept at least (fractions allowed, e.g. 0.5); older ones are deleted at a deleteWhen hour, or at once when the disk is fuller than diskMaxUsedSpaceRatio. Deletion goes by commitlog segment (mappedFileSizeCommitLog).',
  },
  { key: 'deleteWhen', default: '04', description: 'Hours of the day (local time, ;-separated, e.g. 04;16) when expired messages are deleted in normal operation.' },
  { key: 'messageDelayLevel', default: MESSAGE_DELAY_LEVEL_DEFAULT, description: `Delay levels, space-separated: a message sent with property DELAY=n waits the n-th (a retry of a consumer group waits level 3 + its reconsume times); units ms s m h d, at most ${DELAY_LEVEL_COUNT_MAX} levels, each up to 30d. Read by the master only.` },
  {
    key: 'metricsPromExporterPort',
    default: '0',
    description: 'HTTP port on brokerIP1 where this replica serves Prometheus metrics (GET /metrics, text format); 0: off. Every replica on one host needs a port of its own.',
  },
  {
    key: 'messageIndexEnable',
    default: 'true',
    description: 'Keep an in-memory index of message keys, for lookups by key (raftmq message --key); refilled from the retained log after a start, in the background.',
  },
  {
    key: 'maxIndexNum',
    default: String(KEY_INDEX_ENTRIES_DEFAULT),
    description: `Most (topic, key) entries the key index holds, the oldest dropped first (1..${KEY_INDEX_ENTRIES_LIMIT}); about 30 bytes each.`,
  },
  {
    key: 'logFileMaxSize',
    default: String(LOG_FILE_MAX_SIZE_DEFAULT),
    description: `MiB a log file (logs/broker.N.log) grows to before the log moves on to the next file (1..${LOG_FILE_MAX_SIZE_LIMIT}).`,
  },
  {
    key: 'logFileMaxCount',
    default: String(LOG_FILE_MAX_COUNT_DEFAULT),
    description: `Log files kept, the one being written included; the oldest is deleted (${LOG_FILE_MAX_COUNT_MIN}..${LOG_FILE_MAX_COUNT_LIMIT}).`,
  },
  { key: 'diskMaxUsedSpaceRatio', default: '75', description: 'Percent of the store\'s disk above which expired messages (fileReservedTime) are deleted at once, whatever deleteWhen says (1..100; at most diskSpaceCleanForciblyRatio).' },
  { key: 'diskSpaceCleanForciblyRatio', default: '85', description: 'Percent of the store\'s disk above which the oldest messages are deleted even if not yet expired, a segment at a time (1..100; at most diskSpaceWarningLevelRatio).' },
  {
    key: 'diskSpaceWarningLevelRatio',
    default: '90',
    description: 'Percent of the store\'s disk (used as df counts it) above which the master refuses writes with DISK_FULL; reads go on and writes resume by themselves below it (1..100).',
  },
  { key: 'diskCheckIntervalMs', default: '1000', description: 'How often each replica samples its store\'s disk use (statfs) for the ratios above (10..600000).' },
  { key: 'namesrvAddr', default: '', description: `NameServers this replica registers with (role, Raft term, client address, topics): host:port separated by ";", at most ${NAMESRV_ADDR_COUNT_MAX} (e.g. 127.0.0.1:9876;127.0.0.1:9877). It registers with each at once on a role change and soon after a topic change. Empty: no registration.` },
  { key: 'registerNameServerPeriod', default: String(REGISTER_NAMESRV_PERIOD_MS_DEFAULT), description: `ms between two registrations with each NameServer besides those on a change (${REGISTER_NAMESRV_PERIOD_MS_MIN}..${REGISTER_NAMESRV_PERIOD_MS_MAX}); a NameServer drops a replica silent for ${BROKER_EXPIRY_MS / 1000} s.` },
];

/** RocketMQ keys that a DLedger-mode broker.conf often carries and that mean nothing here (roles
 *  and brokerIds come from Raft). Accepted and ignored, so a RocketMQ config needs no edit. */
export const IGNORED_ROCKETMQ_KEYS: readonly string[] = ['enableDLegerCommitLog', 'brokerId', 'brokerRole'];

const KNOWN = new Set<string>(CONFIG_KEYS.map((k) => k.key));

/** Parses broker.conf text. `source` names the file in error messages. Throws ConfigError. */
export function parseConfig(text: string, source = 'broker.conf'): BrokerConfig {
  const values: Partial<Record<ConfigKey, string>> = {};
  const seen = new Set<string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#') || line.startsWith('!')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new ConfigError('', `${source} line ${i + 1}: expected key=value, got "${clip(line)}"`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (seen.has(key)) throw new ConfigError(key, `${source}: ${key} is set twice (line ${i + 1})`);
    seen.add(key);
    if (IGNORED_ROCKETMQ_KEYS.includes(key)) continue;
    if (!KNOWN.has(key)) {
      const hint = suggestKey(key, KNOWN);
      throw new ConfigError(key, `${source}: unknown key "${clip(key)}" (line ${i + 1})${hint === undefined ? '' : `; did you mean ${hint}?`}`);
    }
    values[key as ConfigKey] = value;
  }
  return makeConfig(values, source);
}

/** Reads and parses a broker.conf file. */
export async function loadConfig(path: string): Promise<BrokerConfig> {
  return parseConfig(await readFile(path, 'utf8'), path);
}

/** Builds a validated config from raw string values (as they would appear in broker.conf);
 *  missing keys take their defaults. The local cluster launcher can use it directly. Keys are
 *  checked in a fixed order, so the first bad one is the one reported. */
export function makeConfig(values: Partial<Record<ConfigKey, string>>, source = 'broker.conf'): BrokerConfig {
  const v = new ConfigValues(values, source);
  const names = readNames(v);
  const { self, ids, ...peers } = readPeers(v);
  const client = readClientListener(v, peers.dLegerPeers, self);
  const store = readStore(v);
  const preferredLeaderId = v.raw('preferredLeaderId') ?? '';
  if (preferredLeaderId !== '' && !ids.includes(preferredLeaderId)) {
    throw v.err('preferredLeaderId', `preferredLeaderId "${clip(preferredLeaderId)}" is not one of dLegerPeers (${ids.join(', ')}); expected a peer id or empty`);
  }
  const options = { ...readTopicAndStoreOptions(v), slaveReadEnable: v.bool('slaveReadEnable'), accessMessageInMemoryMaxRatio: v.int('accessMessageInMemoryMaxRatio', 1, 100) };
  const dLegerJoin = v.bool('dLegerJoin');
  const timing = readTiming(v);
  const catchUp = readCatchUp(v);
  const retention = readRetention(v);
  const observability = readObservability(v, client.listenPort, self.port);
  const logFiles = readLogFiles(v);
  const disk = readDiskRatios(v);
  const namesrv = readNamesrv(v);
  const messageDelayLevel = parseMessageDelayLevel(v.withDefault('messageDelayLevel'));
  if (typeof messageDelayLevel === 'string') throw v.err('messageDelayLevel', messageDelayLevel);
  return { ...names, ...peers, dLegerJoin, ...client, ...store, preferredLeaderId, ...options, ...timing, ...catchUp, ...retention, messageDelayLevel, ...observability, ...logFiles, ...disk, ...namesrv };
}

/** The raw values of one broker.conf; each reader checks one key and names it in its error. */
class ConfigValues {
  constructor(
    private readonly values: Partial<Record<ConfigKey, string>>,
    private readonly source: string,
  ) {}

  err(key: ConfigKey, message: string): ConfigError {
    return new ConfigError(key, `${this.source}: ${message}`);
  }

  raw(key: ConfigKey): string | undefined {
    return this.values[key]?.trim();
  }

  required(key: ConfigKey, expected: string): string {
    const v = this.raw(key);
    if (v === undefined || v === '') throw this.err(key, `${key} is missing; expected ${expected}`);
    return v;
  }

  withDefault(key: ConfigKey): string {
    return this.raw(key) ?? CONFIG_KEYS.find((k) => k.key === key)!.default;
  }

  name(key: ConfigKey, v: string): string {
    if (!NAME_PATTERN.test(v)) throw this.err(key, `${key} "${clip(v)}" is not a valid name; expected 1..127 characters of [A-Za-z0-9_.-]`);
    return v;
  }

  int(key: ConfigKey, min: number, max: number): number {
    const v = this.withDefault(key);
    const n = /^\d{1,16}$/.test(v) ? Number(v) : Number.NaN;
    if (!(n >= min && n <= max)) throw this.err(key, `${key} "${clip(v)}" is not valid; expected an integer in ${min}..${max}`);
    return n;
  }

  bool(key: ConfigKey): boolean {
    const v = this.withDefault(key).toLowerCase();
    if (v !== 'true' && v !== 'false') throw this.err(key, `${key} "${clip(this.withDefault(key))}" is not valid; expected true or false`);
    return v === 'true';
  }
}

type ConfigPart<K extends ConfigKey> = Pick<BrokerConfig, K>;

function readNames(v: ConfigValues): ConfigPart<'brokerClusterName' | 'brokerName' | 'dLegerGroup'> {
  const brokerClusterName = v.name('brokerClusterName', v.withDefault('brokerClusterName'));
  const brokerName = v.name('brokerName', v.withDefault('brokerName'));
  const dLegerGroup = v.name('dLegerGroup', v.raw('dLegerGroup') ?? brokerName);
  return { brokerClusterName, brokerName, dLegerGroup };
}

function readPeers(v: ConfigValues): ConfigPart<'dLegerPeers' | 'dLegerSelfId'> & { self: PeerAddress; ids: string[] } {
  const peersText = v.required('dLegerPeers', 'id-host:port;id-host:port;... (e.g. n0-127.0.0.1:20911;n1-127.0.0.1:20912;n2-127.0.0.1:20913)');
  const dLegerPeers = parsePeers(peersText, 'dLegerPeers', (key, message) => v.err(key, message));
  const ids = dLegerPeers.map((p) => p.id);
  const dLegerSelfId = v.required('dLegerSelfId', `one of the dLegerPeers ids (${ids.join(', ')})`);
  if (!ids.includes(dLegerSelfId)) throw v.err('dLegerSelfId', `dLegerSelfId "${clip(dLegerSelfId)}" is not one of dLegerPeers (${ids.join(', ')})`);
  const self = dLegerPeers.find((p) => p.id === dLegerSelfId)!;
  return { dLegerPeers, dLegerSelfId, self, ids };
}

type ClientListenerKeys = 'listenPort' | 'brokerIP1' | 'clientPeers' | 'clientConnectionsMax' | 'clientConnectionsPerAddressMax' | 'clientFirstFrameTimeoutMs';

function readClientListener(v: ConfigValues, dLegerPeers: readonly PeerAddress[], self: PeerAddress): ConfigPart<ClientListenerKeys> {
  const listenPort = v.int('listenPort', 1, 65535);
  const brokerIP1 = v.withDefault('brokerIP1');
  if (!HOST_PATTERN.test(brokerIP1)) throw v.err('brokerIP1', `brokerIP1 "${clip(brokerIP1)}" is not a host; expected an IP address or host name`);
  if (listenPort === self.port) {
    throw v.err('listenPort', `listenPort ${listenPort} is also this replica's dLegerPeers port; expected a different port`);
  }
  const clientText = v.raw('clientPeers');
  const clientPeers =
    clientText === undefined || clientText === ''
      ? deriveClientPeers(v, dLegerPeers, self, brokerIP1, listenPort)
      : listedClientPeers(v, clientText, dLegerPeers, self, listenPort);
  const clientConnectionsMax = v.int('clientConnectionsMax', 1, CLIENT_CONNECTIONS_MAX_LIMIT);
  const clientConnectionsPerAddressMax = v.int('clientConnectionsPerAddressMax', 1, CLIENT_CONNECTIONS_MAX_LIMIT);
  if (clientConnectionsPerAddressMax > clientConnectionsMax) {
    throw v.err(
      'clientConnectionsPerAddressMax',
      `clientConnectionsPerAddressMax ${clientConnectionsPerAddressMax} is above clientConnectionsMax ${clientConnectionsMax}; expected at most clientConnectionsMax (lower it too when lowering clientConnectionsMax)`,
    );
  }
  const clientFirstFrameTimeoutMs = v.int('clientFirstFrameTimeoutMs', 100, 600_000);
  return { listenPort, brokerIP1, clientPeers, clientConnectionsMax, clientConnectionsPerAddressMax, clientFirstFrameTimeoutMs };
}

/** Each peer's Raft host with its Raft port shifted by listenPort minus this replica's Raft port. */
function deriveClientPeers(v: ConfigValues, dLegerPeers: readonly PeerAddress[], self: PeerAddress, brokerIP1: string, listenPort: number): PeerAddress[] {
  const shift = listenPort - self.port;
  return dLegerPeers.map((p) => {
    if (p.id === self.id) return { id: p.id, host: brokerIP1, port: listenPort };
    const port = p.port + shift;
    if (port < 1 || port > 65535) {
      throw v.err('clientPeers', `clientPeers cannot be derived for ${p.id} (port ${p.port} shifted by ${shift} is ${port}); expected clientPeers set explicitly`);
    }
    return { id: p.id, host: p.host, port };
  });
}

/** clientPeers as set: exactly the dLegerPeers ids (returned in their order), this replica at listenPort. */
function listedClientPeers(v: ConfigValues, text: string, dLegerPeers: readonly PeerAddress[], self: PeerAddress, listenPort: number): PeerAddress[] {
  const ids = dLegerPeers.map((p) => p.id);
  const listed = parsePeers(text, 'clientPeers', (key, message) => v.err(key, message));
  const byId = new Map(listed.map((p) => [p.id, p]));
  if (listed.length !== dLegerPeers.length || ids.some((id) => !byId.has(id))) {
    throw v.err('clientPeers', `clientPeers lists ${listed.map((p) => p.id).join(', ')}; expected exactly the dLegerPeers ids (${ids.join(', ')})`);
  }
  const mine = byId.get(self.id)!;
  if (mine.port !== listenPort) throw v.err('clientPeers', `clientPeers gives ${self.id} port ${mine.port} but listenPort is ${listenPort}; expected them to agree`);
  return ids.map((id) => byId.get(id)!);
}

function readStore(v: ConfigValues): ConfigPart<'storePathRootDir' | 'flushDiskType' | 'flushIntervalMs' | 'crcOffloadMinBytes'> {
  const storePathRootDir = v.withDefault('storePathRootDir');
  if (storePathRootDir === '' || storePathRootDir.includes('\0')) throw v.err('storePathRootDir', 'storePathRootDir is empty; expected a directory path');
  const flushDiskType = v.withDefault('flushDiskType');
  if (flushDiskType !== 'SYNC_FLUSH' && flushDiskType !== 'ASYNC_FLUSH') {
    throw v.err('flushDiskType', `flushDiskType "${clip(flushDiskType)}" is not valid; expected SYNC_FLUSH or ASYNC_FLUSH`);
  }
  const flushIntervalMs = v.int('flushIntervalMs', 1, 60_000);
  const crcOffloadMinBytes = v.int('crcOffloadMinBytes', 0, 1024 ** 3);
  return { storePathRootDir, flushDiskType, flushIntervalMs, crcOffloadMinBytes };
}

function readTopicAndStoreOptions(v: ConfigValues): ConfigPart<'autoCreateTopicEnable' | 'directIoEnable' | 'defaultTopicQueueNums' | 'mappedFileSizeCommitLog' | 'recycledSegmentsMax'> {
  const autoCreateTopicEnable = v.bool('autoCreateTopicEnable');
  const directIoEnable = v.bool('directIoEnable');
  const defaultTopicQueueNums = v.int('defaultTopicQueueNums', 1, TOPIC_QUEUE_COUNT_MAX);
  const mappedFileSizeCommitLog = v.int('mappedFileSizeCommitLog', 1024 ** 2, 4 * 1024 ** 3);
  const recycledSegmentsMax = v.int('recycledSegmentsMax', 0, 64);
  return { autoCreateTopicEnable, directIoEnable, defaultTopicQueueNums, mappedFileSizeCommitLog, recycledSegmentsMax };
}

function readCatchUp(v: ConfigValues): ConfigPart<'peerPushThrottlePoint' | 'peerPushQuota'> {
  const peerPushThrottlePoint = v.int('peerPushThrottlePoint', 0, 1024 ** 5);
  const peerPushQuota = v.int('peerPushQuota', 65536, 1024 ** 4);
  return { peerPushThrottlePoint, peerPushQuota };
}

function readRetention(v: ConfigValues): ConfigPart<'fileReservedTime' | 'deleteWhen'> {
  const hoursText = v.withDefault('fileReservedTime');
  const fileReservedTime = Number(hoursText);
  if (!/^\d+(\.\d+)?$/.test(hoursText) || !(fileReservedTime > 0) || fileReservedTime > 24 * 365 * 100) {
    throw v.err('fileReservedTime', `fileReservedTime "${clip(hoursText)}" is not a number of hours above 0 (e.g. 72, or 0.5)`);
  }
  const whenText = v.withDefault('deleteWhen');
  const deleteWhen = whenText.split(';').map((h) => h.trim());
  if (deleteWhen.some((h) => !/^\d{1,2}$/.test(h) || Number(h) > 23)) {
    throw v.err('deleteWhen', `deleteWhen "${clip(whenText)}" is not a ;-separated list of hours 0..23 (e.g. 04 or 04;16)`);
  }
  return { fileReservedTime, deleteWhen: [...new Set(deleteWhen.map(Number))].sort((a, b) => a - b) };
}

function readTiming(v: ConfigValues): ConfigPart<'tickMs' | 'heartbeatIntervalMs' | 'electionTimeoutMs' | 'sendTimeoutMs' | 'checkpointIntervalMs'> {
  const tickMs = v.int('tickMs', 1, 1000);
  const heartbeatIntervalMs = v.int('heartbeatIntervalMs', 1, 60_000);
  if (heartbeatIntervalMs < tickMs) throw v.err('heartbeatIntervalMs', `heartbeatIntervalMs ${heartbeatIntervalMs} is below tickMs ${tickMs}; expected at least one tick`);
  const electionTimeoutMs = v.int('electionTimeoutMs', 2, 600_000);
  if (electionTimeoutMs < 2 * heartbeatIntervalMs) {
    throw v.err('electionTimeoutMs', `electionTimeoutMs ${electionTimeoutMs} is below 2 x heartbeatIntervalMs (${2 * heartbeatIntervalMs}); expected a larger value`);
  }
  const sendTimeoutMs = v.int('sendTimeoutMs', 1, 600_000);
  const checkpointIntervalMs = v.int('checkpointIntervalMs', 10, 600_000);
  return { tickMs, heartbeatIntervalMs, electionTimeoutMs, sendTimeoutMs, checkpointIntervalMs };
}

function readObservability(v: ConfigValues, listenPort: number, peerPort: number): ConfigPart<'metricsPromExporterPort' | 'messageIndexEnable' | 'maxIndexNum'> {
  const metricsPromExporterPort = v.int('metricsPromExporterPort', 0, 65535);
  if (metricsPromExporterPort !== 0 && (metricsPromExporterPort === listenPort || metricsPromExporterPort === peerPort)) {
    throw v.err('metricsPromExporterPort', `metricsPromExporterPort ${metricsPromExporterPort} is also this replica's ${metricsPromExporterPort === listenPort ? 'listenPort' : 'dLegerPeers port'}; expected a port of its own, or 0`);
  }
  const messageIndexEnable = v.bool('messageIndexEnable');
  const maxIndexNum = v.int('maxIndexNum', 1, KEY_INDEX_ENTRIES_LIMIT);
  return { metricsPromExporterPort, messageIndexEnable, maxIndexNum };
}

function readLogFiles(v: ConfigValues): ConfigPart<'logFileMaxSize' | 'logFileMaxCount'> {
  const logFileMaxSize = v.int('logFileMaxSize', 1, LOG_FILE_MAX_SIZE_LIMIT);
  const logFileMaxCount = v.int('logFileMaxCount', LOG_FILE_MAX_COUNT_MIN, LOG_FILE_MAX_COUNT_LIMIT);
  return { logFileMaxSize, logFileMaxCount };
}

type DiskKeys = 'diskMaxUsedSpaceRatio' | 'diskSpaceCleanForciblyRatio' | 'diskSpaceWarningLevelRatio' | 'diskCheckIntervalMs';

/** RocketMQ's three disk ratios (integer percents, as in RocketMQ) must rise in the order they act:
 *  retention starts, retention forces, writes are refused; a warning level below a cleaning
 *  ratio would refuse writes before retention ever tried to make room. */
function readDiskRatios(v: ConfigValues): ConfigPart<DiskKeys> {
  const diskMaxUsedSpaceRatio = v.int('diskMaxUsedSpaceRatio', 1, 100);
  const diskSpaceCleanForciblyRatio = v.int('diskSpaceCleanForciblyRatio', 1, 100);
  const diskSpaceWarningLevelRatio = v.int('diskSpaceWarningLevelRatio', 1, 100);
  if (diskMaxUsedSpaceRatio > diskSpaceCleanForciblyRatio) {
    throw v.err('diskMaxUsedSpaceRatio', `diskMaxUsedSpaceRatio ${diskMaxUsedSpaceRatio} is above diskSpaceCleanForciblyRatio ${diskSpaceCleanForciblyRatio}; expected at most diskSpaceCleanForciblyRatio`);
  }
  if (diskSpaceCleanForciblyRatio > diskSpaceWarningLevelRatio) {
    throw v.err(
      'diskSpaceCleanForciblyRatio',
      `diskSpaceCleanForciblyRatio ${diskSpaceCleanForciblyRatio} is above diskSpaceWarningLevelRatio ${diskSpaceWarningLevelRatio}; expected at most diskSpaceWarningLevelRatio (retention must try before writes are refused)`,
    );
  }
  const diskCheckIntervalMs = v.int('diskCheckIntervalMs', 10, 600_000);
  return { diskMaxUsedSpaceRatio, diskSpaceCleanForciblyRatio, diskSpaceWarningLevelRatio, diskCheckIntervalMs };
}

function readNamesrv(v: ConfigValues): ConfigPart<'namesrvAddr' | 'registerNameServerPeriod'> {
  const text = v.withDefault('namesrvAddr');
  const namesrvAddr = [...new Set(text.split(';').map((s) => s.trim()).filter((s) => s !== ''))];
  if (namesrvAddr.length > NAMESRV_ADDR_COUNT_MAX) throw v.err('namesrvAddr', `namesrvAddr lists ${namesrvAddr.length} NameServers; expected at most ${NAMESRV_ADDR_COUNT_MAX}`);
  for (const addr of namesrvAddr) {
    try {
      parseAddr(addr);
    } catch {
      throw v.err('namesrvAddr', `namesrvAddr entry "${clip(addr)}" is not host:port; expected host:port separated by ";" (e.g. 127.0.0.1:9876;127.0.0.1:9877), or empty`);
    }
  }
  const registerNameServerPeriod = v.int('registerNameServerPeriod', REGISTER_NAMESRV_PERIOD_MS_MIN, REGISTER_NAMESRV_PERIOD_MS_MAX);
  return { namesrvAddr, registerNameServerPeriod };
}

function parsePeers(text: string, key: ConfigKey, err: (key: ConfigKey, message: string) => ConfigError): PeerAddress[] {
  const expected = 'id-host:port;id-host:port;... (e.g. n0-127.0.0.1:20911;n1-127.0.0.1:20912)';
  const parts = text.split(';').map((s) => s.trim()).filter((s) => s !== '');
  if (parts.length === 0) throw err(key, `${key} is empty; expected ${expected}`);
  if (parts.length > PEER_COUNT_MAX) throw err(key, `${key} lists ${parts.length} peers; expected 1..${PEER_COUNT_MAX}`);
  const peers: PeerAddress[] = [];
  for (const part of parts) {
    const dash = part.indexOf('-');
    const colon = part.lastIndexOf(':');
    const id = dash > 0 ? part.slice(0, dash) : '';
    const host = dash > 0 && colon > dash ? part.slice(dash + 1, colon) : '';
    const portText = colon > dash && dash > 0 ? part.slice(colon + 1) : '';
    if (!PEER_ID_PATTERN.test(id) || !HOST_PATTERN.test(host) || !/^\d{1,5}$/.test(portText)) {
      throw err(key, `${key} entry "${clip(part)}" is not valid; expected ${expected}, ids of [A-Za-z0-9_]`);
    }
    const port = Number(portText);
    if (port < 1 || port > 65535) throw err(key, `${key} entry "${clip(part)}" has port ${port}; expected a port in 1..65535`);
    if (peers.some((p) => p.id === id)) throw err(key, `${key} lists id "${id}" twice; expected unique ids`);
    if (peers.some((p) => p.host === host && p.port === port)) throw err(key, `${key} lists ${host}:${port} twice; expected one address per peer`);
    peers.push({ id, host, port });
  }
  return peers;
}

/** Renders a config as broker.conf text that parseConfig reads back to an equal config. */
export function renderConfig(cfg: BrokerConfig): string {
  const peers = (ps: readonly PeerAddress[]): string => ps.map((p) => `${p.id}-${p.host}:${p.port}`).join(';');
  const lines = ['# raftmq broker.conf (key=value; # comments). Generated by renderConfig.'];
  for (const { key, description } of CONFIG_KEYS) {
    const v = cfg[key];
    const text =
      key === 'dLegerPeers' || key === 'clientPeers'
        ? peers(v as readonly PeerAddress[])
        : key === 'namesrvAddr'
          ? (v as readonly string[]).join(';')
          : key === 'deleteWhen'
            ? (v as readonly number[]).map((h) => String(h).padStart(2, '0')).join(';')
            : key === 'messageDelayLevel' ? formatMessageDelayLevel(v as readonly number[]) : String(v);
    lines.push(`# ${description}`, `${key}=${text}`);
  }
  return lines.join('\n') + '\n';
}

export { raftTicksOf, selfPeer } from './config-derived.ts';

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
