// raftmq status: one line per replica (or --json: one JSON array).
import { Admin } from '../client/index.ts';
import { parseFlagsOrHelp, type CommandSpec } from './args.ts';
import { GROUP_TARGET_FLAGS, replicasOf, targetOf } from './target.ts';

const SPEC: CommandSpec = {
  usage: 'raftmq status (--servers H:P[,H:P...] | -n H:P[;H:P] [--broker-name B]) [--json]',
  summary:
    'Asks every listed replica for its state: node id, role (MASTER/SLAVE), kind (VOTER, LEARNER,\n' +
    'or NONE while it joins or after its removal: see raftmq member), store (ok, or rebuilding:\n' +
    'a new or wiped store that does not vote until it has caught up), Raft term, leader, commit /\n' +
    'applied / last log index, the first index of its log on disk and the first index retention\n' +
    'keeps (messages below it are deleted on every replica), and pid. An unreachable replica is\n' +
    'shown as down. With --namesrv: every replica of every group the NameServer lists (of one group\n' +
    'with --broker-name).',
  flags: [
    ...GROUP_TARGET_FLAGS,
    { name: 'json', kind: 'bool', help: 'print one JSON array instead of a table' },
  ],
};

export async function run(argv: string[]): Promise<number> {
  const flags = parseFlagsOrHelp(SPEC, argv);
  if (flags === null) return 0;
  const servers = await replicasOf(targetOf(flags));
  const admin = new Admin({ servers });
  try {
    const results = await Promise.all(servers.map((s) => admin.status(s).then((st) => ({ server: s, st }), (err: Error) => ({ server: s, err }))));
    if (flags.json) {
      console.log(JSON.stringify(results.map((r) => ('st' in r ? r.st : { addr: r.server, down: true, error: r.err.message }))));
    } else {
      const widths = [12, 8, 22, 8, 9, 12, 6, 8, 10, 10, 10, 10, 10, 8];
      const row = (cells: unknown[]) => cells.map((v, i) => `${String(v).padEnd(widths[i]! - 1)} `).join('').trimEnd();
      console.log(row(['group', 'node', 'addr', 'role', 'kind', 'store', 'term', 'leader', 'commit', 'applied', 'last', 'first', 'retained', 'pid']));
      for (const r of results) {
        if ('st' in r) {
          const s = r.st;
          console.log(row([s.brokerName, s.nodeId, s.addr, s.role, s.memberKind ?? '-', s.recovering ? 'rebuilding' : 'ok', s.term, s.leaderId || '-', s.commitIndex, s.appliedIndex, s.lastIndex, s.firstIndex ?? '-', s.retainedFrom ?? '-', s.pid]));
        } else {
          console.log(row(['?', '?', r.server, `down (${r.err.message})`]));
        }
      }
    }
    return results.some((r) => 'st' in r) ? 0 : 1;
  } finally {
    await admin.close();
  }
}
