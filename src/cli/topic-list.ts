// raftmq topicList (mqadmin topicList): every topic a live broker group holds.
import { ClusterAdmin } from '../client/index.ts';
import { parseFlagsOrHelp, type CommandSpec } from './args.ts';
import { NAMESRV_FLAG, namesrvOf } from './target.ts';

export const SPEC: CommandSpec = {
  usage: 'raftmq topicList [-n H:P[;H:P]] [--json]',
  summary: 'Lists every topic that some live broker group holds, as the NameServer knows them, one per line\n(--json: one JSON array of names).',
  flags: [NAMESRV_FLAG, { name: 'json', kind: 'bool', help: 'print one JSON array' }],
};

export async function run(argv: string[]): Promise<number> {
  const flags = parseFlagsOrHelp(SPEC, argv);
  if (flags === null) return 0;
  const admin = new ClusterAdmin({ namesrv: namesrvOf(flags) });
  try {
    const topics = (await admin.topicList()).sort();
    console.log(flags.json ? JSON.stringify(topics) : topics.join('\n'));
    return 0;
  } finally {
    await admin.close();
  }
}
