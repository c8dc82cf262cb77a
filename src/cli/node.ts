// raftmq node --config FILE: one replica in the foreground until SIGTERM/SIGINT (graceful stop).
import { CONFIG_KEYS, loadConfig, createLogger, repairStore, startNode } from '../broker/index.ts';
import { helpText, parseFlags, type CommandSpec } from './args.ts';

const SPEC: CommandSpec = {
  usage: 'raftmq node --config broker.conf',
  summary:
    'Runs one replica of a broker group in the foreground. It is MASTER while it is the Raft leader,\n' +
    'SLAVE otherwise. SIGTERM or Ctrl-C stops it gracefully: a master first hands leadership to the\n' +
    'most caught-up follower, then it flushes and exits 0. Logs are JSON lines on stderr and in\n' +
    '<storePathRootDir>/logs/broker.N.log files (logFileMaxSize MiB each, logFileMaxCount kept);\n' +
    'logs/broker.log links to the one being written.',
  flags: [
    { name: 'config', kind: 'string', help: 'broker.conf (key=value lines; keys below)', required: true },
    { name: 'log-level', kind: 'string', help: 'log level', default: 'info', choices: ['debug', 'info', 'warn', 'error'] },
    {
      name: 'repair',
      kind: 'bool',
      help:
        'before starting, repair a store refused as corrupt: keep the commitlog\'s valid prefix, cut the rest, and let the master\n' +
        're-replicate it (the replica does not vote until it has). Safe while the other replicas of the group are healthy.',
    },
  ],
};

export async function run(argv: string[]): Promise<number> {
  const flags = parseFlags(SPEC, argv);
  if (flags === null) {
    console.log(helpText(SPEC));
    console.log('\nbroker.conf keys:');
    for (const k of CONFIG_KEYS) console.log(`  ${k.key.padEnd(29)}${k.description} [default: ${k.default || '(empty)'}]`);
    return 0;
  }
  let config;
  try {
    config = await loadConfig(String(flags.config));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    console.error(e.code === 'ENOENT' ? `raftmq node: config file ${String(flags.config)} does not exist` : `raftmq node: ${e.message}`);
    return 2;
  }
  let logger;
  try {
    logger = await createLogger({
      nodeId: config.dLegerSelfId,
      storeDir: config.storePathRootDir,
      level: String(flags['log-level']),
      logFileMaxSize: config.logFileMaxSize,
      logFileMaxCount: config.logFileMaxCount,
    });
  } catch (err) {
    console.error(`raftmq node: could not start ${config.dLegerSelfId}: cannot open its log under ${config.storePathRootDir}: ${(err as Error).message}`);
    return 1;
  }
  let node;
  try {
    if (flags.repair === true) {
      const repair = await repairStore(config, logger);
      console.error(
        repair.cuts.length === 0
          ? `raftmq node: ${config.dLegerSelfId}: the store needed no repair`
          : `raftmq node: ${config.dLegerSelfId}: repaired the store: kept the log up to index ${repair.lastIndex}${repair.stateRebuilt ? ', state rebuilt from it' : ''}; the master re-replicates the rest\n  ${repair.cuts.join('\n  ')}`,
      );
    }
    node = await startNode(config, logger);
  } catch (err) {
    // startNode closed what it had opened; exit now, whatever handle might still be pending.
    const e = err as NodeJS.ErrnoException;
    const hint =
      e.code === 'STORE_CORRUPT' && flags.repair !== true
        ? ` (to keep the store's valid part and get the rest back from the master: raftmq node --config ${String(flags.config)} --repair; README, "Operations")`
        : '';
    console.error(`raftmq node: could not start ${config.dLegerSelfId}: ${e.message}${hint}`);
    logger.flush();
    process.exit(1);
  }
  return await new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping');
      node.stop().then(
        () => {
          logger.flush();
          resolve(0);
        },
        (err: Error) => {
          logger.error({ err: err.message }, 'stop failed');
          logger.flush();
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    process.on('SIGINT', () => onSignal('SIGINT'));
  });
}
