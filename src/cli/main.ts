// raftmq: one entry point, one module per command.
import { UsageError } from './args.ts';

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number> }> }> = {
  node: { summary: 'run one replica in the foreground (--config broker.conf)', load: () => import('./node.ts') },
  cluster: { summary: 'run a local 3- or 5-node group as child processes', load: () => import('./cluster.ts') },
  status: { summary: 'show each replica: role, term, leader, commit/applied/last index', load: () => import('./status.ts') },
  topic: { summary: 'topic create: create or grow a topic', load: () => import('./topic.ts') },
  send: { summary: 'send one message, or --count N for a load run', load: () => import('./send.ts') },
  consume: { summary: 'read messages of a topic (all queues)', load: () => import('./consume.ts') },
  offset: { summary: "offset show | reset: a consumer group's offsets and lag; reset them to a time", load: () => import('./offset.ts') },
  member: { summary: "member list | add | promote | remove: the group's voters and learners", load: () => import('./member.ts') },
  'transfer-leader': { summary: 'move the master role to another replica', load: () => import('./transfer-leader.ts') },
  message: { summary: 'find messages by msgId or by key', load: () => import('./message.ts') },
  dashboard: { summary: 'serve a live web dashboard of a broker group', load: () => import('./dashboard.ts') },
};

function usage(): string {
  const lines = ['usage: raftmq <command> [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(17)}${c.summary}`);
  lines.push('', 'Run "raftmq <command> --help" for the options of one command.');
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    console.error(`raftmq: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await (await cmd.load()).run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`raftmq ${name}: ${err.message}`);
      return 2;
    }
    const e = err as Error & { code?: string };
    console.error(`raftmq ${name}: ${e.code ? `${e.code}: ` : ''}${e.message}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
