// raftmq member list | add | promote | remove: the group's voters and learners, and changes to
// them while the group keeps taking writes (issue 21).
import { Admin, RaftmqError, checkMemberAddrs, checkMemberId, type MembersInfo } from '../client/index.ts';
import { helpText, parseFlags, splitPositionals, UsageError, type CommandSpec, type FlagSpec } from './args.ts';
import { GROUP_TARGET_FLAGS, groupServersOf, targetOf, type Target } from './target.ts';

const FORCE: FlagSpec = { name: 'force', kind: 'bool', help: 'skip the refusal of a change that would leave the group without a quorum of live replicas' };
/** How often `member add` prints the learner's progress. */
const PROGRESS_LINE_MS = 1000;

const SPECS = {
  list: {
    usage: 'raftmq member list (--servers H:P[,...] | -n H:P[;H:P] [--broker-name B]) [--json]',
    summary:
      "Shows the group's configuration: each member's id, kind (VOTER or LEARNER; * marks the\n" +
      'master), Raft and client addresses and, as the master sees it, its match index (the last log\n' +
      "index it holds), lag (entries behind the master's last index) and whether it answered within\n" +
      "an election timeout. Asked of the master when one answers, else of any replica (then match,\n" +
      'lag and active are "-").',
    flags: [...GROUP_TARGET_FLAGS, { name: 'json', kind: 'bool', help: 'print the answer as one JSON object' }],
  },
  add: {
    usage: 'raftmq member add ID PEER_ADDR CLIENT_ADDR (--servers H:P[,...] | -n H:P[;H:P] [--broker-name B]) [--learner] [--force] [--timeout-ms N]',
    summary:
      'Adds replica ID, reachable by the others at PEER_ADDR (its Raft listener, host:port) and by\n' +
      'clients at CLIENT_ADDR, as a learner: it receives the log (a snapshot first if the master no\n' +
      'longer has the start of it) and never votes. Start the new replica before or after. Unless\n' +
      '--learner, waits until it has caught up, printing its match index and lag every second, and\n' +
      'promotes it to voter ("promoted"). Run it again after an interruption: an existing learner at\n' +
      'the same addresses is taken as added.',
    flags: [
      ...GROUP_TARGET_FLAGS,
      { name: 'learner', kind: 'bool', help: 'leave it a learner (promote it later with member promote)' },
      FORCE,
      { name: 'timeout-ms', kind: 'int', help: 'how long to wait for it to catch up before giving up (it stays a learner)', default: 600_000, min: 1 },
    ],
  },
  promote: {
    usage: 'raftmq member promote ID (--servers H:P[,...] | -n H:P[;H:P] [--broker-name B]) [--force]',
    summary: 'Makes learner ID a voter. Refused while it lags behind the master (see member list).',
    flags: [...GROUP_TARGET_FLAGS, FORCE],
  },
  remove: {
    usage: 'raftmq member remove ID (--servers H:P[,...] | -n H:P[;H:P] [--broker-name B]) [--force]',
    summary:
      'Removes voter or learner ID from the group (a removed master hands over first; the removed\n' +
      'replica stops). Refused for the last voter, and, unless --force, when the voters left would\n' +
      'not have a quorum of live replicas.',
    flags: [...GROUP_TARGET_FLAGS, FORCE],
  },
} satisfies Record<string, CommandSpec>;

type Sub = keyof typeof SPECS;
const POSITIONALS: Record<Sub, readonly string[]> = { list: [], add: ['ID', 'PEER_ADDR', 'CLIENT_ADDR'], promote: ['ID'], remove: ['ID'] };

export type MemberCommand =
  | { readonly sub: 'help'; readonly text: string }
  | { readonly sub: 'list'; readonly target: Target; readonly json: boolean }
  | {
      readonly sub: 'add';
      readonly target: Target;
      readonly nodeId: string;
      readonly peerAddr: string;
      readonly clientAddr: string;
      readonly learner: boolean;
      readonly force: boolean;
      readonly timeoutMs: number;
    }
  | { readonly sub: 'promote' | 'remove'; readonly target: Target; readonly nodeId: string; readonly force: boolean };

/** The command line after `raftmq member`; UsageError (one line) for anything that cannot run. */
export function parseMemberArgs(argv: readonly string[]): MemberCommand {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h') return { sub: 'help', text: Object.values(SPECS).map(helpText).join('\n\n') };
  if (sub === undefined) throw new UsageError('member needs a command: list, add, promote or remove (see --help)');
  if (!Object.hasOwn(SPECS, sub)) throw new UsageError(`unknown member command "${sub}" (list, add, promote or remove)`);
  const spec: CommandSpec = SPECS[sub as Sub];
  const { positionals, flagArgs } = splitPositionals(spec, rest);
  const flags = parseFlags(spec, flagArgs);
  if (flags === null) return { sub: 'help', text: helpText(spec) };
  const names = POSITIONALS[sub as Sub];
  if (positionals.length < names.length) {
    throw new UsageError(`member ${sub} needs ${names.join(' ')}${positionals.length > 0 ? `, got only ${positionals.join(' ')}` : ''} (see --help)`);
  }
  if (positionals.length > names.length) throw new UsageError(`unexpected argument "${positionals[names.length]}" (see --help)`);
  const target = targetOf(flags);
  if (sub === 'list') return { sub, target, json: flags.json === true };
  const [nodeId, peerAddr, clientAddr] = positionals as [string, string?, string?];
  asUsage(() => checkMemberId(nodeId));
  const force = flags.force === true;
  if (sub !== 'add') return { sub: sub as 'promote' | 'remove', target, nodeId, force };
  asUsage(() => checkMemberAddrs(peerAddr, clientAddr));
  return { sub, target, nodeId, peerAddr: peerAddr!, clientAddr: clientAddr!, learner: flags.learner === true, force, timeoutMs: Number(flags['timeout-ms']) };
}

/** The client's TypeError for malformed input, as the CLI's one-line UsageError. */
function asUsage(check: () => void): void {
  try {
    check();
  } catch (err) {
    if (err instanceof TypeError) throw new UsageError(err.message);
    throw err;
  }
}

export async function run(argv: string[]): Promise<number> {
  const cmd = parseMemberArgs(argv);
  if (cmd.sub === 'help') {
    console.log(cmd.text);
    return 0;
  }
  const admin = new Admin({ servers: (await groupServersOf(cmd.target)).servers });
  try {
    return await execute(admin, cmd);
  } catch (err) {
    if (!(err instanceof RaftmqError)) throw err;
    // A refusal or failure of the group: its message, on one line.
    const unknown = err.outcome === 'unknown' ? '; the change may have been applied: see raftmq member list' : '';
    console.error(`raftmq member ${cmd.sub}: ${err.code}: ${err.message.replace(/\s*\n\s*/g, ' ')}${unknown}`);
    return 1;
  } finally {
    await admin.close();
  }
}

async function execute(admin: Admin, cmd: Exclude<MemberCommand, { sub: 'help' }>): Promise<number> {
  switch (cmd.sub) {
    case 'list': {
      const info = await admin.members();
      console.log(cmd.json ? JSON.stringify(info) : membersTable(info).join('\n'));
      return 0;
    }
    case 'add': {
      let printedAt = 0;
      const info = await admin.addMember(cmd.nodeId, cmd.peerAddr, cmd.clientAddr, {
        learner: cmd.learner,
        force: cmd.force,
        timeoutMs: cmd.timeoutMs,
        onProgress: ({ match, lag }) => {
          if (Date.now() - printedAt < PROGRESS_LINE_MS) return;
          printedAt = Date.now();
          console.log(`${cmd.nodeId} catching up: match ${match ?? '-'}, lag ${lag ?? '-'}`);
        },
      });
      console.log(cmd.learner ? `${cmd.nodeId} added as a learner (configuration index ${info.configIndex})` : `${cmd.nodeId} promoted: a voter (configuration index ${info.configIndex})`);
      return 0;
    }
    case 'promote':
    case 'remove': {
      const info = cmd.sub === 'promote' ? await admin.promoteMember(cmd.nodeId, { force: cmd.force }) : await admin.removeMember(cmd.nodeId, { force: cmd.force });
      console.log(`${cmd.nodeId} ${cmd.sub === 'promote' ? 'promoted: a voter' : 'removed'} (configuration index ${info.configIndex})`);
      return 0;
    }
  }
}

/** `member list`'s lines: what answered, then one row per member. */
export function membersTable(info: MembersInfo): string[] {
  const fromMaster = info.members.some((m) => m.isMaster && m.nodeId === info.answeredBy);
  const head =
    `configuration index ${info.configIndex}, answered by ${info.answeredBy}` +
    (fromMaster ? '' : ' (not the master: match, lag and active unknown)') +
    (info.changePending ? '; a change is pending' : '');
  const dash = (v: number | boolean | null) => (v === null ? '-' : typeof v === 'boolean' ? (v ? 'yes' : 'no') : String(v));
  const rows = [
    ['id', 'kind', 'master', 'peer', 'client', 'match', 'lag', 'active'],
    ...info.members.map((m) => [m.nodeId, m.kind, m.isMaster ? '*' : '', m.peerAddr, m.clientAddr, dash(m.match), dash(m.lag), dash(m.active)]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return [head, ...rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd())];
}
