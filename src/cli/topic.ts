// raftmq topic create: create a topic (or grow its queue count) through the master.
import { Admin } from '../client/index.ts';
import { helpText, parseFlagsOrHelp, UsageError, type CommandSpec } from './args.ts';
import { GROUP_TARGET_FLAGS, groupServersOf, targetOf } from './target.ts';

const SPEC: CommandSpec = {
  usage: 'raftmq topic create (--servers H:P[,...] | -n H:P[;H:P] [--broker-name B]) --topic T --queues N',
  summary:
    'Creates topic T with N queues on one broker group, or grows an existing topic to N queues (queues\n' +
    'never shrink). The request goes to the master and returns once the change is committed. On every\n' +
    'group of a cluster at once: raftmq updateTopic.',
  flags: [
    ...GROUP_TARGET_FLAGS,
    { name: 'topic', kind: 'string', help: 'topic name ([%|a-zA-Z0-9_-], at most 127 characters)', required: true },
    { name: 'queues', kind: 'int', help: 'queue count', default: 4, min: 1, max: 1024 },
  ],
};

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h' || sub === undefined) {
    console.log(helpText(SPEC));
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'create') throw new UsageError(`unknown topic command "${sub}" (only "create")`);
  const flags = parseFlagsOrHelp(SPEC, rest);
  if (flags === null) return 0;
  const admin = new Admin({ servers: (await groupServersOf(targetOf(flags))).servers });
  try {
    await admin.createTopic(String(flags.topic), Number(flags.queues));
    console.log(`topic ${String(flags.topic)} has ${Number(flags.queues)} queues`);
    return 0;
  } finally {
    await admin.close();
  }
}
