import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CONFIG_KEYS, ConfigError, loadConfig, makeConfig, parseConfig, raftTicksOf, renderConfig, selfPeer } from '../../src/broker/index.ts';

const PEERS = 'n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913';
const MINIMAL = `dLegerPeers=${PEERS}\ndLegerSelfId=n1\n`;

t.test('a minimal broker.conf takes every documented default', async (t) => {
  const cfg = parseConfig(MINIMAL);
  t.same(cfg, {
    brokerClusterName: 'DefaultCluster',
    brokerName: 'broker-a',
    dLegerGroup: 'broker-a',
    dLegerPeers: [
      { id: 'n0', host: '127.0.0.1', port: 40911 },
      { id: 'n1', host: '127.0.0.1', port: 40912 },
      { id: 'n2', host: '127.0.0.1', port: 40913 },
    ],
    dLegerSelfId: 'n1',
    dLegerJoin: false,
    clientPeers: [
      { id: 'n0', host: '127.0.0.1', port: 10910 },
      { id: 'n1', host: '127.0.0.1', port: 10911 },
      { id: 'n2', host: '127.0.0.1', port: 10912 },
    ],
    listenPort: 10911,
    brokerIP1: '127.0.0.1',
    clientConnectionsMax: 1024,
    clientConnectionsPerAddressMax: 256,
    clientFirstFrameTimeoutMs: 3000,
    storePathRootDir: './store',
    flushDiskType: 'SYNC_FLUSH',
    flushIntervalMs: 500,
    crcOffloadMinBytes: 0,
    directIoEnable: true,
    preferredLeaderId: '',
    autoCreateTopicEnable: true,
    defaultTopicQueueNums: 4,
    slaveReadEnable: false,
    accessMessageInMemoryMaxRatio: 40,
    mappedFileSizeCommitLog: 1024 ** 3,
    recycledSegmentsMax: 1,
    tickMs: 10,
    electionTimeoutMs: 500,
    heartbeatIntervalMs: 100,
    sendTimeoutMs: 3000,
    checkpointIntervalMs: 1000,
    peerPushThrottlePoint: 0,
    peerPushQuota: 20 * 1024 ** 2,
    fileReservedTime: 72,
    deleteWhen: [4],
    messageDelayLevel: [1, 5, 10, 30, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600, 1200, 1800, 3600, 7200].map((s) => s * 1000),
    metricsPromExporterPort: 0,
    messageIndexEnable: true,
    maxIndexNum: 1_000_000,
    logFileMaxSize: 128,
    logFileMaxCount: 10,
    diskMaxUsedSpaceRatio: 75,
    diskSpaceCleanForciblyRatio: 85,
    diskSpaceWarningLevelRatio: 90,
    diskCheckIntervalMs: 1000,
    namesrvAddr: [],
    registerNameServerPeriod: 30_000,
  });
  t.same(selfPeer(cfg), { id: 'n1', host: '127.0.0.1', port: 40912 });
  t.same(raftTicksOf(cfg), { electionTicks: 50, heartbeatTicks: 10 });
  t.equal(CONFIG_KEYS.length, Object.keys(cfg).length, 'every config field is documented');
  for (const k of CONFIG_KEYS) t.ok(k.description.length > 10 && k.default !== undefined, k.key);
});

t.test('retention keys: fileReservedTime in hours (fractions too), deleteWhen as hours of the day; bad values refused with one line', async (t) => {
  const cfg = parseConfig(`${MINIMAL}\nfileReservedTime=0.25\ndeleteWhen=16;04;4\n`);
  t.equal(cfg.fileReservedTime, 0.25);
  t.same(cfg.deleteWhen, [4, 16]);
  for (const [line, why] of [
    ['fileReservedTime=0', /fileReservedTime "0" is not a number of hours above 0/],
    ['fileReservedTime=-1', /is not a number of hours/],
    ['fileReservedTime=3h', /is not a number of hours/],
    ['deleteWhen=24', /deleteWhen "24" is not a ;-separated list of hours 0..23/],
    ['deleteWhen=04;', /is not a ;-separated list/],
  ] as const) {
    t.throws(() => parseConfig(`${MINIMAL}\n${line}\n`), { message: why }, line);
  }
});

t.test('comments, blank lines, whitespace and RocketMQ keys that mean nothing here are accepted', async (t) => {
  const text = [
    '# a RocketMQ DLedger broker.conf',
    '',
    '  brokerClusterName = RaftCluster  ',
    'brokerName=RaftNode00',
    '! java properties comment',
    'enableDLegerCommitLog=true',
    'brokerRole=ASYNC_MASTER',
    `dLegerPeers = ${PEERS};`,
    'dLegerSelfId=n0',
    'dLegerGroup=RaftNode00',
    'listenPort=30911',
    'flushDiskType=ASYNC_FLUSH',
    'autoCreateTopicEnable=FALSE',
    'directIoEnable=false',
    'preferredLeaderId=n2',
    'clientPeers=n0-127.0.0.1:30911;n1-10.0.0.2:30921;n2-host-c:30931',
    '\r',
  ].join('\r\n');
  const cfg = parseConfig(text);
  t.equal(cfg.brokerClusterName, 'RaftCluster');
  t.equal(cfg.brokerName, 'RaftNode00');
  t.equal(cfg.flushDiskType, 'ASYNC_FLUSH');
  t.equal(cfg.autoCreateTopicEnable, false);
  t.equal(cfg.directIoEnable, false);
  t.equal(cfg.preferredLeaderId, 'n2');
  t.equal(cfg.dLegerPeers.length, 3);
  t.same(cfg.clientPeers.map((p) => `${p.id}@${p.host}:${p.port}`), ['n0@127.0.0.1:30911', 'n1@10.0.0.2:30921', 'n2@host-c:30931']);
});

t.test('namesrvAddr: a ;-separated host:port list (duplicates once), bad entries and periods refused with one line', async (t) => {
  const cfg = parseConfig(`${MINIMAL}namesrvAddr= 127.0.0.1:9876 ;ns-b:9877;127.0.0.1:9876;\nregisterNameServerPeriod=500\n`);
  t.same(cfg.namesrvAddr, ['127.0.0.1:9876', 'ns-b:9877']);
  t.equal(cfg.registerNameServerPeriod, 500);
  t.same(parseConfig(renderConfig(cfg)), cfg, 'renders back as the same list');
  const many = Array.from({ length: 17 }, (_, i) => `127.0.0.1:${9000 + i}`).join(';');
  for (const [line, why] of [
    ['namesrvAddr=localhost', /namesrvAddr entry "localhost" is not host:port/],
    ['namesrvAddr=127.0.0.1:9876,127.0.0.1:9877', /namesrvAddr entry "127.0.0.1:9876,127.0.0.1:9877" is not host:port/],
    ['namesrvAddr=h:0', /namesrvAddr entry "h:0" is not host:port/],
    [`namesrvAddr=${many}`, /namesrvAddr lists 17 NameServers; expected at most 16/],
    ['registerNameServerPeriod=99', /registerNameServerPeriod "99" is not valid; expected an integer in 100..60000/],
    ['registerNameServerPeriod=120000', /expected an integer in 100..60000/],
  ] as const) {
    t.throws(() => parseConfig(`${MINIMAL}\n${line}\n`), { name: 'ConfigError', key: line.slice(0, line.indexOf('=')), message: why }, line);
  }
});

t.test('logFileMaxSize and logFileMaxCount take their bounds and values in between', async (t) => {
  for (const [size, count] of [[1, 1], [512, 3], [65536, 1000]] as const) {
    const cfg = parseConfig(`${MINIMAL}logFileMaxSize=${size}\nlogFileMaxCount=${count}\n`);
    t.equal(cfg.logFileMaxSize, size, `logFileMaxSize=${size}`);
    t.equal(cfg.logFileMaxCount, count, `logFileMaxCount=${count}`);
  }
});

t.test('renderConfig writes a file that parses back to the same config', async (t) => {
  for (const text of [MINIMAL, `${MINIMAL}preferredLeaderId=n2\nflushDiskType=ASYNC_FLUSH\nbrokerIP1=[::1]\nstorePathRootDir=/tmp/x y\nclientConnectionsMax=10\nclientConnectionsPerAddressMax=10\nclientFirstFrameTimeoutMs=100\n`]) {
    const cfg = parseConfig(text);
    t.same(parseConfig(renderConfig(cfg)), cfg);
  }
  const single = makeConfig({ dLegerPeers: 'n0-localhost:5000', dLegerSelfId: 'n0', listenPort: '5001' });
  t.same(parseConfig(renderConfig(single)), single, 'one peer is allowed');
});

t.test('loadConfig names the file in its errors', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'raftmq-conf-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'b.conf');
  await writeFile(file, MINIMAL);
  t.equal((await loadConfig(file)).dLegerSelfId, 'n1');
  await writeFile(file, 'dLegerPeers=n0-h:1\n');
  await t.rejects(loadConfig(file), { name: 'ConfigError', key: 'dLegerSelfId', message: `${file}: dLegerSelfId is missing; expected one of the dLegerPeers ids (n0)` });
});

t.test('each bad value is one line that names its key', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['', 'dLegerPeers', /^broker\.conf: dLegerPeers is missing; expected id-host:port/],
    [`dLegerPeers=${PEERS}`, 'dLegerSelfId', /dLegerSelfId is missing/],
    [`${MINIMAL}dLegerSelfId=n9`, 'dLegerSelfId', /set twice/],
    [`dLegerPeers=${PEERS}\ndLegerSelfId=n9`, 'dLegerSelfId', /^broker\.conf: dLegerSelfId "n9" is not one of dLegerPeers \(n0, n1, n2\)$/],
    ['dLegerPeers=n0-127.0.0.1:40911;n0-127.0.0.1:40912\ndLegerSelfId=n0', 'dLegerPeers', /lists id "n0" twice/],
    ['dLegerPeers=n0-127.0.0.1:40911;n1-127.0.0.1:40911\ndLegerSelfId=n0', 'dLegerPeers', /127\.0\.0\.1:40911 twice/],
    ['dLegerPeers=n0-127.0.0.1:70000\ndLegerSelfId=n0', 'dLegerPeers', /port 70000; expected a port in 1\.\.65535/],
    ['dLegerPeers=n0-127.0.0.1:0\ndLegerSelfId=n0', 'dLegerPeers', /port 0/],
    ['dLegerPeers=127.0.0.1:40911\ndLegerSelfId=n0', 'dLegerPeers', /entry "127\.0\.0\.1:40911" is not valid/],
    ['dLegerPeers=n0-127.0.0.1\ndLegerSelfId=n0', 'dLegerPeers', /is not valid/],
    [`dLegerPeers=${Array.from({ length: 8 }, (_, i) => `n${i}-h:${4000 + i}`).join(';')}\ndLegerSelfId=n0`, 'dLegerPeers', /lists 8 peers; expected 1\.\.7/],
    [`${MINIMAL}listenPort=abc`, 'listenPort', /^broker\.conf: listenPort "abc" is not valid; expected an integer in 1\.\.65535$/],
    [`${MINIMAL}listenPort=65536`, 'listenPort', /listenPort "65536"/],
    [`${MINIMAL}listenPort=40912`, 'listenPort', /also this replica's dLegerPeers port/],
    [`${MINIMAL}flushDiskType=sync`, 'flushDiskType', /expected SYNC_FLUSH or ASYNC_FLUSH/],
    [`${MINIMAL}flushIntervalMs=0`, 'flushIntervalMs', /flushIntervalMs "0"/],
    [`${MINIMAL}crcOffloadMinBytes=-1`, 'crcOffloadMinBytes', /crcOffloadMinBytes "-1"/],
    [`${MINIMAL}preferredLeaderId=n7`, 'preferredLeaderId', /preferredLeaderId "n7" is not one of dLegerPeers/],
    [`${MINIMAL}autoCreateTopicEnable=yes`, 'autoCreateTopicEnable', /expected true or false/],
    [`${MINIMAL}defaultTopicQueueNums=0`, 'defaultTopicQueueNums', /expected an integer in 1\.\.1024/],
    [`${MINIMAL}defaultTopicQueueNums=2000`, 'defaultTopicQueueNums', /1\.\.1024/],
    [`${MINIMAL}mappedFileSizeCommitLog=1000`, 'mappedFileSizeCommitLog', /mappedFileSizeCommitLog "1000"/],
    [`${MINIMAL}tickMs=-5`, 'tickMs', /tickMs "-5"/],
    [`${MINIMAL}heartbeatIntervalMs=5`, 'heartbeatIntervalMs', /below tickMs/],
    [`${MINIMAL}electionTimeoutMs=150`, 'electionTimeoutMs', /below 2 x heartbeatIntervalMs/],
    [`${MINIMAL}sendTimeoutMs=1.5`, 'sendTimeoutMs', /sendTimeoutMs "1\.5"/],
    [`${MINIMAL}checkpointIntervalMs=`, 'checkpointIntervalMs', /checkpointIntervalMs ""/],
    [`${MINIMAL}peerPushThrottlePoint=-1`, 'peerPushThrottlePoint', /peerPushThrottlePoint "-1" is not valid; expected an integer in 0\.\./],
    [`${MINIMAL}peerPushQuota=1000`, 'peerPushQuota', /peerPushQuota "1000" is not valid; expected an integer in 65536\.\./],
    [`${MINIMAL}clientConnectionsMax=0`, 'clientConnectionsMax', /^broker\.conf: clientConnectionsMax "0" is not valid; expected an integer in 1\.\.65536$/],
    [`${MINIMAL}clientConnectionsMax=70000`, 'clientConnectionsMax', /clientConnectionsMax "70000"/],
    [`${MINIMAL}clientConnectionsPerAddressMax=0`, 'clientConnectionsPerAddressMax', /clientConnectionsPerAddressMax "0"/],
    [`${MINIMAL}clientConnectionsMax=100`, 'clientConnectionsPerAddressMax', /^broker\.conf: clientConnectionsPerAddressMax 256 is above clientConnectionsMax 100; expected at most clientConnectionsMax/],
    [`${MINIMAL}clientFirstFrameTimeoutMs=99`, 'clientFirstFrameTimeoutMs', /clientFirstFrameTimeoutMs "99" is not valid; expected an integer in 100\.\.600000/],
    [`${MINIMAL}brokerName=has space`, 'brokerName', /brokerName "has space" is not a valid name/],
    [`${MINIMAL}brokerIP1=a b`, 'brokerIP1', /brokerIP1 "a b" is not a host/],
    [`${MINIMAL}storePathRootDir=`, 'storePathRootDir', /storePathRootDir is empty/],
    [`${MINIMAL}metricsPromExporterPort=10911`, 'metricsPromExporterPort', /metricsPromExporterPort 10911 is also this replica's listenPort/],
    [`${MINIMAL}metricsPromExporterPort=40912`, 'metricsPromExporterPort', /also this replica's dLegerPeers port/],
    [`${MINIMAL}metricsPromExporterPort=70000`, 'metricsPromExporterPort', /expected an integer in 0\.\.65535/],
    [`${MINIMAL}messageIndexEnable=1`, 'messageIndexEnable', /expected true or false/],
    [`${MINIMAL}maxIndexNum=0`, 'maxIndexNum', /maxIndexNum "0" is not valid; expected an integer in 1\.\.50000000/],
    [`${MINIMAL}logFileMaxSize=0`, 'logFileMaxSize', /^broker\.conf: logFileMaxSize "0" is not valid; expected an integer in 1\.\.65536$/],
    [`${MINIMAL}logFileMaxSize=128M`, 'logFileMaxSize', /logFileMaxSize "128M" is not valid; expected an integer in 1\.\.65536/],
    [`${MINIMAL}logFileMaxSize=65537`, 'logFileMaxSize', /logFileMaxSize "65537"/],
    [`${MINIMAL}logFileMaxCount=0`, 'logFileMaxCount', /^broker\.conf: logFileMaxCount "0" is not valid; expected an integer in 1\.\.1000$/],
    [`${MINIMAL}logFileMaxCount=ten`, 'logFileMaxCount', /logFileMaxCount "ten"/],
    [`${MINIMAL}logFileMaxCount=1001`, 'logFileMaxCount', /logFileMaxCount "1001"/],
    [`${MINIMAL}diskSpaceWarningLevelRatio=0`, 'diskSpaceWarningLevelRatio', /diskSpaceWarningLevelRatio "0" is not valid; expected an integer in 1\.\.100/],
    [`${MINIMAL}accessMessageInMemoryMaxRatio=101`, 'accessMessageInMemoryMaxRatio', /accessMessageInMemoryMaxRatio "101" is not valid; expected an integer in 1\.\.100/],
    [`${MINIMAL}slaveReadEnable=yes`, 'slaveReadEnable', /slaveReadEnable "yes" is not valid; expected true or false/],
    [`${MINIMAL}diskSpaceWarningLevelRatio=101`, 'diskSpaceWarningLevelRatio', /expected an integer in 1\.\.100/],
    [`${MINIMAL}diskSpaceWarningLevelRatio=92.5`, 'diskSpaceWarningLevelRatio', /diskSpaceWarningLevelRatio "92\.5"/],
    [`${MINIMAL}diskMaxUsedSpaceRatio=0`, 'diskMaxUsedSpaceRatio', /expected an integer in 1\.\.100/],
    [`${MINIMAL}diskSpaceCleanForciblyRatio=abc`, 'diskSpaceCleanForciblyRatio', /expected an integer in 1\.\.100/],
    [`${MINIMAL}diskMaxUsedSpaceRatio=86`, 'diskMaxUsedSpaceRatio', /^broker\.conf: diskMaxUsedSpaceRatio 86 is above diskSpaceCleanForciblyRatio 85; expected at most diskSpaceCleanForciblyRatio$/],
    [`${MINIMAL}diskSpaceWarningLevelRatio=80`, 'diskSpaceCleanForciblyRatio', /diskSpaceCleanForciblyRatio 85 is above diskSpaceWarningLevelRatio 80; expected at most diskSpaceWarningLevelRatio/],
    [`${MINIMAL}diskCheckIntervalMs=5`, 'diskCheckIntervalMs', /diskCheckIntervalMs "5" is not valid; expected an integer in 10\.\.600000/],
    [`${MINIMAL}clientPeers=n0-h:1;n1-h:2`, 'clientPeers', /expected exactly the dLegerPeers ids/],
    [`${MINIMAL}clientPeers=n0-h:1;n1-h:2;n2-h:3`, 'clientPeers', /but listenPort is 10911/],
    ['dLegerPeers=n0-h:100;n1-h:40000\ndLegerSelfId=n1\nlistenPort=100', 'clientPeers', /cannot be derived for n0/],
    [`${MINIMAL}listenPrt=10911`, 'listenPrt', /^broker\.conf: unknown key "listenPrt" \(line 3\); did you mean listenPort\?$/],
    [`${MINIMAL}storepathrootdir=/x`, 'storepathrootdir', /did you mean storePathRootDir\?/],
    [`${MINIMAL}somethingElse=1`, 'somethingElse', /^broker\.conf: unknown key "somethingElse" \(line 3\)$/],
    [`${MINIMAL}just some words`, '', /^broker\.conf line 3: expected key=value, got "just some words"$/],
  ];
  for (const [text, key, message] of cases) {
    try {
      parseConfig(text);
      t.fail(`accepted: ${JSON.stringify(text)}`);
    } catch (err) {
      t.ok(err instanceof ConfigError, `${key}: a ConfigError`);
      if (!(err instanceof ConfigError)) continue;
      t.equal(err.key, key, `${key}: names the key`);
      t.match(err.message, message, `${key}: ${err.message}`);
      t.notOk(err.message.includes('\n'), `${key}: one line`);
    }
  }
});
