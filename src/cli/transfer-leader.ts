// raftmq transfer-leader: hand the master role to another replica.
import { Admin } from '../client/index.ts';
import { parseFlagsOrHelp, type CommandSpec } from './args.ts';
import { GROUP_TARGET_FLAGS, groupServersOf, targetOf } from './target.ts';

const SPEC: CommandSpec = {
  usage: 'raftmq transfer-leader (--servers H:P[,...] | -n H:P[;H:P] [--broker-name B]) --to ID',
  summary: 'Asks the master to hand leadership to replica ID (once ID has caught up), and waits until\nID is the master. While the hand-over runs the master refuses writes; clients retry.',
  flags: [
    ...GROUP_TARGET_FLAGS,
    { name: 'to', kind: 'string', help: 'node id of the new master (as in dLegerPeers, e.g. n1)', required: true },
    { name: 'timeout-ms', kind: 'int', help: 'how long to wait for the new master', default: 5000, min: 1 },
  ],
};

export async function run(argv: string[]): Promise<number> {
  const flags = parseFlagsOrHelp(SPEC, argv);
  if (flags === null) return 0;
  const { servers } = await groupServersOf(targetOf(flags));
  const to = String(flags.to);
  const admin = new Admin({ servers });
  try {
    await admin.transferLeader(to);
    const deadline = Date.now() + Number(flags['timeout-ms']);
    while (Date.now() < deadline) {
      const all = await admin.statusAll(servers);
      const master = all.map((r) => r.status).find((s) => s?.role === 'MASTER');
      if (master?.nodeId === to) {
        console.log(`master: ${to} at ${master.addr} (term ${master.term})`);
        return 0;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    console.error(`raftmq transfer-leader: ${to} did not become master within ${Number(flags['timeout-ms'])} ms`);
    return 1;
  } finally {
    await admin.close();
  }
}
