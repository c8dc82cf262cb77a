// raftmq: one entry point, one module per command.
import { UsageError } from './args.ts';
import { COMMANDS } from './commands.ts';

function usage(): string {
  const lines = ['usage: raftmq <command> [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(17)}${c.summary}`);
  lines.push(
    '',
    'Run "raftmq <command> --help" for the options of one command. Commands find the brokers by',
    '--servers H:P[,H:P] (one group) or --namesrv H:P[;H:P] (-n; default: $NAMESRV_ADDR).',
  );
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  const cmd = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (cmd === undefined) {
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
