// raftmq dashboard: serves a live web page of a broker group until Ctrl-C.
import { ClusterWatcher, serveDashboard } from '../dashboard/index.ts';
import { parseFlagsOrHelp, type CommandSpec } from './args.ts';
import { GROUP_TARGET_FLAGS, groupServersOf, targetOf } from './target.ts';

const SPEC: CommandSpec = {
  usage: 'raftmq dashboard (--servers H:P[,...] | -n H:P[;H:P] [--broker-name B]) [--port P] [--host H] [--poll-ms MS]',
  summary:
    'Serves a web page with a live picture of the group: each replica with its role, term, commit,\n' +
    'applied and last index and how far behind it is; topics and queues with their offsets;\n' +
    'consumer groups with their lag; messages in and out per second and latency (from each\n' +
    'replica\'s metrics: metricsPromExporterPort); the recent master changes; lookups by msgId and\n' +
    'by key; leadership transfer and topic creation behind a confirmation. It asks every listed\n' +
    'replica each --poll-ms and keeps showing the others when one is down. Prints the URL. One group:\n' +
    'with --namesrv and several groups, pick it with --broker-name.',
  flags: [
    ...GROUP_TARGET_FLAGS,
    { name: 'port', kind: 'int', help: 'HTTP port of the page (0: any free port)', default: 8080, min: 0, max: 65535 },
    { name: 'host', kind: 'string', help: 'address to listen on (anyone who reaches it may act on the cluster)', default: '127.0.0.1' },
    { name: 'poll-ms', kind: 'int', help: 'how often each replica is asked', default: 1000, min: 100, max: 60_000 },
  ],
};

export async function run(argv: string[]): Promise<number> {
  const flags = parseFlagsOrHelp(SPEC, argv);
  if (flags === null) return 0;
  const watcher = new ClusterWatcher({ servers: (await groupServersOf(targetOf(flags))).servers, pollMs: Number(flags['poll-ms']) });
  watcher.start();
  let server;
  try {
    server = await serveDashboard({ watcher, host: String(flags.host), port: Number(flags.port) });
  } catch (err) {
    await watcher.stop();
    throw err;
  }
  console.log(`dashboard: ${server.url}`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  await watcher.stop();
  return 0;
}
