// raftmq namesrv: one NameServer in the foreground until SIGTERM/SIGINT. Stateless: it keeps
// routes in memory only and is refilled by the brokers' registrations after a restart.
import type { LogFn, LogLevel } from '../net/index.ts';
import { NamesrvServer } from '../namesrv/index.ts';
import { NAMESRV_PORT_DEFAULT, REGISTER_NAMESRV_PERIOD_MS_DEFAULT, BROKER_EXPIRY_MS } from '../protocol/index.ts';
import { parseFlagsOrHelp, type CommandSpec } from './args.ts';

const SPEC: CommandSpec = {
  usage: 'raftmq namesrv [--port 9876] [--host 127.0.0.1]',
  summary:
    'Runs a NameServer in the foreground: every replica of every broker group whose broker.conf names it\n' +
    `in namesrvAddr registers with it (every registerNameServerPeriod, ${REGISTER_NAMESRV_PERIOD_MS_DEFAULT} ms by default, and at once on a\n` +
    'role change), and clients ask it for topic routes and cluster info. Stateless: routes live in memory\n' +
    `only; a replica silent for ${BROKER_EXPIRY_MS / 1000} s is dropped. Run several for redundancy (each broker registers with\n` +
    'all). Prints "namesrv listening on host:port" once up; logs are JSON lines on stderr. SIGTERM or\n' +
    'Ctrl-C stops it.',
  flags: [
    { name: 'port', kind: 'int', help: 'TCP port (0: any free port)', default: NAMESRV_PORT_DEFAULT, min: 0, max: 65535 },
    { name: 'host', kind: 'string', help: 'address to listen on', default: '127.0.0.1' },
    { name: 'log-level', kind: 'string', help: 'log level', default: 'info', choices: ['debug', 'info', 'warn', 'error'] },
  ],
};

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** JSON lines on stderr at `level` and above. */
function stderrLog(level: LogLevel): LogFn {
  const min = LEVELS.indexOf(level);
  return (lvl, msg, fields) => {
    if (LEVELS.indexOf(lvl) < min) return;
    process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...fields })}\n`);
  };
}

export async function run(argv: string[]): Promise<number> {
  const flags = parseFlagsOrHelp(SPEC, argv);
  if (flags === null) return 0;
  const log = stderrLog(flags['log-level'] as LogLevel);
  let server: NamesrvServer;
  try {
    server = await NamesrvServer.start({ host: String(flags.host), port: Number(flags.port), log });
  } catch (err) {
    console.error(`raftmq namesrv: could not listen on ${String(flags.host)}:${String(flags.port)}: ${(err as Error).message}`);
    return 1;
  }
  console.log(`namesrv listening on ${server.addr}`);
  log('info', 'namesrv started', { addr: server.addr, instanceId: server.instanceId, pid: process.pid });
  return await new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log('info', 'stopping', { signal });
      server.close().then(
        () => resolve(0),
        (err: Error) => {
          log('error', 'stop failed', { err: err.message });
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    process.on('SIGINT', () => onSignal('SIGINT'));
  });
}
