// The nemesis: injects one fault at a time and heals it, as OpenChaos cycles do (run normally for
// `interval`, inject, hold, heal, repeat). Which fault comes next is drawn from the list with a
// seeded PRNG, so a seed replays the same sequence of choices (not the same timings).
//
// Process faults signal replica processes by PID; network faults set firewall rules in the
// replicas' namespaces (net.ts) or switch the delay relays. Every fault writes a 'start' event
// when injected and an 'end' event when healed.
//
// With several broker groups a replica fault first draws its group (seeded too), then aims within
// it as with one group: a partition or a majority is a group's business, and a leader fault hits
// the master of that group. namesrv-kill SIGKILLs one NameServer (restarted, empty, at heal);
// consumer-kill SIGKILLs one member of the workload's consumer group (a new one starts at heal).
import { Prng } from '../raft/index.ts';
import { delay } from '../net/index.ts';
import { Admin } from '../client/index.ts';
import type { Monitor } from './monitor.ts';
import type { ChaosNamesrvs } from './namesrvs.ts';
import type { NetLab } from './net.ts';
import type { ChaosNodes } from './nodes.ts';
import type { HistoryRecorder } from './recorder.ts';

export const PROCESS_FAULTS = [
  'leader-kill',
  'random-kill',
  'minor-kill',
  'major-kill',
  'leader-suspend',
  'random-suspend',
  'slave-long-suspend',
  'wipe-replica',
  'mistyped-peer',
  'wrong-group',
  'stale-config',
  'membership',
] as const;
export const NETWORK_FAULTS = ['random-partition', 'leader-partition', 'partition-majorities-ring', 'bridge', 'random-loss', 'random-delay'] as const;
export const NAMESRV_FAULTS = ['namesrv-kill'] as const;
/** Faults of the workload's consumer group (--push-consumers). */
export const CONSUMER_FAULTS = ['consumer-kill'] as const;
export const ALL_FAULTS: readonly string[] = [...PROCESS_FAULTS, ...NETWORK_FAULTS, ...NAMESRV_FAULTS, ...CONSUMER_FAULTS];
/** Faults that only make sense with 5 (or more) replicas, as Jepsen defines them. */
const FIVE_NODE_FAULTS: ReadonlySet<string> = new Set(['partition-majorities-ring', 'bridge']);

export const LOSS_PERCENT = 20;
export const DELAY_MS = 100;
export const DELAY_JITTER_MS = 50;
/** slave-long-suspend holds this long whatever the hold: a slave falls far behind at full load. */
export const LONG_SUSPEND_MS = 30_000;
/** How long a leader fault waits for a master to aim at. */
const MASTER_WAIT_MS = 5000;
/** membership: how long the replacement may take to catch up before it is promoted. */
const MEMBER_CATCH_UP_MS = 120_000;

/** broker.conf of a replica that joins a running group (dLegerJoin=true). */
export function joining(conf: string): string {
  return [...conf.split('\n').filter((l) => !l.startsWith('dLegerJoin=')), 'dLegerJoin=true'].join('\n');
}

/** broker.conf with this replica's group name changed (its hellos are refused by the others). */
export function wrongGroup(conf: string): string {
  const lines = conf.split('\n').filter((l) => !l.startsWith('dLegerGroup='));
  return [...lines, 'dLegerGroup=some-other-group'].join('\n');
}

/** broker.conf with `peer`'s Raft port in dLegerPeers off by one thousand (a typo). */
export function mistypePeer(conf: string, peer: string): string {
  return conf.replace(new RegExp(`(dLegerPeers=(?:[^\\n]*;)?${peer}-[^:;\\n]+:)(\\d+)`), (_m, head: string, port: string) => `${head}${(Number(port) + 1000) % 65536}`);
}

/** broker.conf as it was when the group had only the replicas `keep` (an old copy left on one
 *  machine): dLegerPeers and clientPeers list only those. */
export function staleConfig(conf: string, keep: readonly string[]): string {
  const only = (list: string): string => list.split(';').filter((p) => keep.includes(p.slice(0, p.indexOf('-')))).join(';');
  return conf
    .split('\n')
    .filter((l) => !(l.startsWith('preferredLeaderId=') && !keep.includes(l.slice('preferredLeaderId='.length))))
    .map((l) => l.replace(/^(dLegerPeers|clientPeers)=(.*)$/, (_m, key: string, list: string) => `${key}=${only(list)}`))
    .join('\n');
}

/** The faults `all` means for groups of `nodes` replicas, `namesrvs` NameServers and
 *  `pushConsumers` consumer-group members. */
export function faultsValidFor(nodes: number, namesrvs = 0, pushConsumers = 0): string[] {
  return ALL_FAULTS.filter((f) => (nodes >= 5 || !FIVE_NODE_FAULTS.has(f)) && (namesrvs > 0 || !isNamesrvFault(f)) && (pushConsumers > 0 || f !== 'consumer-kill'));
}

function isNamesrvFault(name: string): boolean {
  return (NAMESRV_FAULTS as readonly string[]).includes(name);
}

export function isNetworkFault(name: string): boolean {
  return (NETWORK_FAULTS as readonly string[]).includes(name);
}

/** Why `fault` cannot run with these means, or null when it can. */
export function unavailableReason(fault: string, means: { nodes: number; lab: NetLab | null; labProblem: string; relays: boolean; namesrvs?: number; pushConsumers?: number }): string | null {
  if (!ALL_FAULTS.includes(fault)) return `unknown fault (known: ${ALL_FAULTS.join(', ')})`;
  if (fault === 'consumer-kill' && !((means.pushConsumers ?? 0) > 0)) return 'no push consumers in this run (--push-consumers)';
  if (FIVE_NODE_FAULTS.has(fault) && means.nodes < 5) return 'needs 5 nodes';
  if (isNamesrvFault(fault) && !((means.namesrvs ?? 0) > 0)) return 'no NameServer in this run';
  if (fault === 'random-delay') {
    if (means.lab?.netem || means.relays) return null;
    return `no sch_netem in this kernel and no delay relays${means.lab ? '' : `; ${means.labProblem}`}`;
  }
  if (isNetworkFault(fault) && !means.lab) return `needs network namespaces: ${means.labProblem}`;
  return null;
}

// ---- partition geometry (pure): for each node, the nodes it must not hear from -------------

export type Cuts = Map<string, Set<string>>;

/** Components that cannot reach each other (every node in exactly one). */
export function componentCuts(components: readonly (readonly string[])[]): Cuts {
  const cuts: Cuts = new Map();
  for (const comp of components) {
    for (const id of comp) cuts.set(id, new Set(components.filter((c) => c !== comp).flat()));
  }
  return cuts;
}

/** Jepsen's majorities ring: nodes on a ring (in the given order) each see their nearest
 *  neighbours only, enough for a majority with itself, and no two see the same majority. */
export function ringCuts(ring: readonly string[]): { cuts: Cuts; detail: string } {
  const n = ring.length;
  // Neighbours seen on each side (5 nodes: 1 each side, 2 + itself = 3 of 5).
  const reach = Math.max(1, Math.ceil(Math.floor(n / 2) / 2));
  const cuts: Cuts = new Map();
  ring.forEach((id, k) => {
    const cut = new Set<string>();
    ring.forEach((other, j) => {
      const d = Math.min(Math.abs(j - k), n - Math.abs(j - k));
      if (d > reach) cut.add(other);
    });
    cuts.set(id, cut);
  });
  return { cuts, detail: `ring ${ring.join('-')}-${ring[0]} (each sees its neighbours)` };
}

/** Jepsen's bridge: two halves that cannot reach each other, and one node (the middle of the
 *  given order) that reaches both. */
export function bridgeCuts(order: readonly string[]): { cuts: Cuts; detail: string } {
  const half = Math.floor(order.length / 2);
  const left = order.slice(0, half);
  const bridge = order[half]!;
  const right = order.slice(half + 1);
  const cuts: Cuts = new Map(order.map((id) => [id, new Set<string>()]));
  for (const a of left) {
    for (const b of right) {
      cuts.get(a)!.add(b);
      cuts.get(b)!.add(a);
    }
  }
  return { cuts, detail: `${left.join(',')} | bridge ${bridge} | ${right.join(',')}` };
}

interface ActiveFault {
  readonly name: string;
  readonly faultId: number;
  readonly detail: string;
  heal(): Promise<void>;
}

interface FaultPlan {
  readonly detail: string;
  /** null: nothing to aim at this cycle. */
  readonly act: (() => Promise<void>) | null;
  readonly heal: () => Promise<void>;
  /** Overrides the run's hold for this fault. */
  readonly holdMs?: number;
}

export interface NemesisOptions {
  readonly faults: readonly string[];
  readonly nodes: ChaosNodes;
  /** The run's NameServers (namesrv-kill), if any. */
  readonly namesrvs?: ChaosNamesrvs | null;
  /** The workload's consumer-group members (consumer-kill), if any. */
  readonly consumers?: KillableConsumers | null;
  readonly lab: NetLab | null;
  readonly monitor: Monitor;
  readonly recorder: HistoryRecorder;
  readonly seed: number;
  /** 'random' (default): each cycle draws a fault with the PRNG; 'sequence': the list in order,
   *  once (then the cycles end). */
  readonly order?: 'random' | 'sequence';
  readonly log: (line: string) => void;
}

/** What consumer-kill needs of the members (consumer-members.ts). */
export interface KillableConsumers {
  readonly count: number;
  /** SIGKILL member i; its name. */
  kill(i: number): Promise<string>;
  start(i: number): void;
}

export class Nemesis {
  private readonly prng: Prng;
  private nextFaultId = 1;
  /** membership faults so far: every other one replaces the master. */
  private membershipRounds = 0;
  private active: ActiveFault | null = null;
  private stopped = false;
  private readonly abort = new AbortController();
  /** Faults injected so far. */
  injectedTotal = 0;

  constructor(private readonly opts: NemesisOptions) {
    this.prng = new Prng(opts.seed);
  }

  get current(): string {
    return this.active?.name ?? '';
  }

  /** Cycles until `endAt` (Date.now() ms) or stop(): interval, inject, hold, heal. */
  async run(opts: { intervalMs: number; holdMs: number; endAt: number }): Promise<void> {
    if (this.opts.faults.length === 0) return;
    const sequence = this.opts.order === 'sequence';
    for (let cycle = 0; !this.stopped && (!sequence || cycle < this.opts.faults.length); cycle++) {
      if (!(await this.sleep(Math.min(opts.intervalMs, opts.endAt - Date.now())))) break;
      if (Date.now() >= opts.endAt) break;
      const name = sequence ? this.opts.faults[cycle]! : this.opts.faults[this.prng.intBelow(this.opts.faults.length)]!;
      const fault = await this.inject(name);
      if (fault === null) continue;
      await this.sleep(Math.max(0, Math.min(fault.holdMs ?? opts.holdMs, opts.endAt - Date.now())));
      await this.heal();
    }
  }

  /** Sleeps; false when stopped meanwhile. */
  private async sleep(ms: number): Promise<boolean> {
    if (this.stopped || ms <= 0) return !this.stopped && ms > 0;
    await delay(ms, this.abort.signal).catch(() => {});
    return !this.stopped;
  }

  /** Ends the cycles (the current fault stays until heal()). */
  stop(): void {
    this.stopped = true;
    this.abort.abort(new Error('nemesis stopped'));
  }

  /** Heals the active fault, if any, and writes its end event. */
  async heal(): Promise<void> {
    const fault = this.active;
    if (!fault) return;
    this.active = null;
    await fault.heal();
    this.opts.recorder.record({ op: 'fault', type: 'end', client: 'nemesis', fault: fault.name, faultId: fault.faultId, detail: fault.detail });
    this.opts.log(`healed ${fault.name} #${fault.faultId}`);
  }

  /** Injects `name` now; null when it could not be aimed (e.g. no master to kill). */
  async inject(name: string): Promise<(ActiveFault & { readonly holdMs?: number }) | null> {
    const { detail, heal, act, holdMs } = await this.plan(name);
    if (act === null) return null;
    const faultId = this.nextFaultId++;
    this.opts.recorder.record({ op: 'fault', type: 'start', client: 'nemesis', fault: name, faultId, detail });
    await act();
    this.active = { name, faultId, detail, heal };
    this.injectedTotal++;
    this.opts.log(`injected ${name} #${faultId}: ${detail}`);
    return holdMs === undefined ? this.active : { ...this.active, holdMs };
  }

  // ---- the faults --------------------------------------------------------------------------

  /** What injecting `name` now would do (act null: nothing to aim at this cycle). */
  private async plan(name: string): Promise<FaultPlan> {
    if (name === 'namesrv-kill') return this.namesrvKillFault();
    if (name === 'consumer-kill') return this.consumerKillFault();
    const groups = this.opts.nodes.groups;
    // One group: no draw, so a seed replays the same choices as before groups existed.
    const group = groups.length === 1 ? groups[0]! : groups[this.prng.intBelow(groups.length)]!;
    const plan = await this.planIn(name, this.opts.nodes.idsOf(group));
    return groups.length === 1 || plan.act === null ? plan : { ...plan, detail: `${group}: ${plan.detail}` };
  }

  /** `name` aimed at the replicas `ids` of one group. */
  private async planIn(name: string, ids: readonly string[]): Promise<FaultPlan> {
    const { nodes } = this.opts;
    const n = ids.length;
    const none = { detail: '', act: null, heal: async () => {} };
    switch (name) {
      case 'leader-kill':
      case 'leader-suspend':
      case 'leader-partition': {
        const master = await this.findMaster(ids);
        if (!master) {
          this.opts.log(`${name}: no master to aim at; skipped this cycle`);
          return none;
        }
        if (name === 'leader-kill') return this.killFault([master]);
        if (name === 'leader-suspend') return this.suspendFault([master]);
        const others = this.shuffle(ids.filter((id) => id !== master));
        const minority = [master, ...others.slice(0, Math.floor(n / 2) - 1)];
        return this.partitionFault(name, [minority, others.slice(Math.floor(n / 2) - 1)]);
      }
      case 'random-kill':
        return this.killFault(this.pick(ids, 1));
      case 'minor-kill':
        return this.killFault(this.pick(ids, Math.floor((n - 1) / 2)));
      case 'major-kill':
        return this.killFault(this.pick(ids, Math.ceil(n / 2)));
      case 'random-suspend':
        return this.suspendFault(this.pick(ids, 1));
      case 'slave-long-suspend': {
        const victim = await this.pickSlave(name, ids);
        return victim === null ? none : { ...this.suspendFault([victim]), holdMs: LONG_SUSPEND_MS };
      }
      case 'stale-config': {
        // A slave restarted with a copy of broker.conf from when the group was smaller: it counts
        // majorities of another group, so the others must refuse it, not vote with it.
        const victim = await this.pickSlave(name, ids);
        if (victim === null) return none;
        const keep = [victim, ...this.pick(ids.filter((id) => id !== victim), Math.floor((n - 1) / 2))];
        return this.restartWithFault(victim, (conf) => staleConfig(conf, keep), `dLegerPeers of an older, smaller group: ${keep.join(',')}`);
      }
      case 'mistyped-peer':
      case 'wrong-group': {
        // An operator's mistake on one slave's broker.conf: the group must keep its master and data.
        const victim = await this.pickSlave(name, ids);
        if (victim === null) return none;
        const other = ids.find((id) => id !== victim)!;
        const edit = name === 'wrong-group' ? wrongGroup : (conf: string) => mistypePeer(conf, other);
        return this.restartWithFault(victim, edit, name === 'wrong-group' ? 'dLegerGroup changed' : `${other}'s Raft port mistyped`);
      }
      case 'wipe-replica': {
        // One lost store at a time, as a group tolerates: only when every replica is up and none
        // is still rebuilding a store.
        const statuses = await this.opts.monitor.pollAll(ids);
        const unfit = ids.filter((id) => { const st = statuses.get(id); return !st || st.recovering; });
        if (unfit.length > 0) {
          this.opts.log(`${name}: ${unfit.join(',')} down or still recovering; skipped this cycle`);
          return none;
        }
        return this.wipeFault(this.pick(ids, 1));
      }
      case 'membership':
        return this.membershipFault(ids);
      case 'random-partition': {
        const order = this.shuffle(ids);
        const cut = Math.floor(n / 2);
        return this.partitionFault(name, [order.slice(0, cut), order.slice(cut)]);
      }
      case 'partition-majorities-ring': {
        const { cuts, detail } = ringCuts(this.shuffle(ids));
        return this.cutFault(cuts, detail);
      }
      case 'bridge': {
        const { cuts, detail } = bridgeCuts(this.shuffle(ids));
        return this.cutFault(cuts, detail);
      }
      case 'random-loss': {
        const victims = this.pick(ids, 1 + this.prng.intBelow(n));
        const lab = this.opts.lab!;
        return {
          detail: `drop ${LOSS_PERCENT}% of packets arriving at ${victims.join(',')}`,
          act: async () => victims.forEach((id) => lab.setRules(nodes.spec(id).index, { blockFrom: [], lossPercent: LOSS_PERCENT })),
          heal: async () => lab.healAll(),
        };
      }
      case 'random-delay':
        return this.delayFault(this.pick(ids, 1 + this.prng.intBelow(n)));
      default:
        throw new Error(`unknown fault ${name}`);
    }
  }

  /** SIGKILL one consumer-group member (drawn); a new one starts at heal. */
  private consumerKillFault(): FaultPlan {
    const c = this.opts.consumers;
    if (!c) return { detail: '', act: null, heal: async () => {} };
    const i = this.prng.intBelow(c.count);
    return {
      detail: `SIGKILL push consumer m${i}; a new member starts at heal`,
      act: async () => void (await c.kill(i)),
      heal: async () => c.start(i),
    };
  }

  /** SIGKILL one NameServer (drawn when there are several); restarted at heal, with no routes
   *  until the replicas register again. */
  private namesrvKillFault(): FaultPlan {
    const ns = this.opts.namesrvs;
    if (!ns) return { detail: '', act: null, heal: async () => {} };
    const i = ns.addrs.length === 1 ? 0 : this.prng.intBelow(ns.addrs.length);
    return {
      detail: `SIGKILL NameServer ${ns.names[i]} (${ns.addrs[i]}); restarted empty at heal`,
      act: async () => ns.kill(i),
      heal: async () => {
        await ns.start(i).catch((err: Error) => this.opts.log(`namesrv-kill: restarting ${ns.names[i]} failed: ${err.message}`));
      },
    };
  }

  /**
   * A replica dies for good and is replaced, as an operator does it: it is removed from the
   * group, comes back as a new machine under the same name (empty store, dLegerJoin), is added
   * as a learner and promoted once caught up. Every other time the one replaced is the master.
   * The heal finishes a replacement that did not complete (the replica is added again).
   */
  private async membershipFault(ids: readonly string[]): Promise<FaultPlan> {
    const { nodes } = this.opts;
    const master = await this.findMaster(ids);
    if (!master) {
      this.opts.log('membership: no master; skipped this cycle');
      return { detail: '', act: null, heal: async () => {} };
    }
    const victim = this.membershipRounds++ % 2 === 1 ? master : this.pick(ids.filter((id) => id !== master), 1)[0]!;
    const spec = nodes.spec(victim);
    const admin = new Admin({ servers: ids.filter((id) => id !== victim).map((id) => nodes.spec(id).clientAddr), timeoutMs: 20_000 });
    let added = false;
    const addBack = async (): Promise<void> => {
      if (!nodes.running(victim)) nodes.start(victim, joining);
      await admin.addMember(victim, spec.peerDialAddr, spec.clientAddr, { timeoutMs: MEMBER_CATCH_UP_MS });
      added = true;
      this.opts.log(`membership: ${victim} is a voter again`);
    };
    return {
      detail: `replace ${victim}${victim === master ? ' (the master)' : ''}: SIGKILL, member remove, wipe, restart joining, member add (learner, promoted once caught up)`,
      act: async () => {
        await nodes.kill(victim);
        try {
          await admin.removeMember(victim);
        } catch (err) {
          // Refused (another replica is down: no live quorum without it): put it back as it was.
          this.opts.log(`membership: remove ${victim} refused (${(err as Error).message}); restarting it unchanged`);
          nodes.start(victim);
          added = true;
          return;
        }
        nodes.wipe(victim);
        await addBack().catch((err: Error) => this.opts.log(`membership: adding ${victim} back failed for now (${err.message}); the heal tries again`));
      },
      heal: async () => {
        try {
          if (!added) await addBack().catch((err: Error) => this.opts.log(`membership: ${victim} still not added back: ${err.message}`));
        } finally {
          await admin.close();
        }
      },
    };
  }

  private killFault(victims: string[]) {
    const { nodes } = this.opts;
    return {
      detail: `SIGKILL ${victims.join(',')}`,
      act: async () => {
        await Promise.all(victims.map((id) => nodes.kill(id)));
      },
      heal: async () => victims.forEach((id) => nodes.start(id)),
    };
  }

  /** One random slave among `ids`, or null (logged) when no master is known to tell the slaves by. */
  private async pickSlave(fault: string, ids: readonly string[]): Promise<string | null> {
    const master = await this.findMaster(ids);
    if (!master) {
      this.opts.log(`${fault}: no master to tell the slaves by; skipped this cycle`);
      return null;
    }
    return this.pick(ids.filter((id) => id !== master), 1)[0]!;
  }

  /** Restarts `victim` with a mistaken broker.conf; the heal restarts it with the right one. */
  private restartWithFault(victim: string, edit: (conf: string) => string, what: string): FaultPlan {
    const { nodes } = this.opts;
    return {
      detail: `restart ${victim} with a mistaken broker.conf (${what})`,
      act: async () => {
        await nodes.kill(victim);
        nodes.start(victim, edit);
      },
      heal: async () => {
        await nodes.kill(victim);
        nodes.start(victim);
      },
    };
  }

  private wipeFault(victims: string[]): FaultPlan {
    const { nodes } = this.opts;
    return {
      detail: `SIGKILL ${victims.join(',')}, delete its store, restart it empty`,
      act: async () => {
        await Promise.all(victims.map((id) => nodes.kill(id)));
        for (const id of victims) nodes.wipe(id);
      },
      heal: async () => victims.forEach((id) => nodes.start(id)),
    };
  }

  private suspendFault(victims: string[]) {
    const { nodes } = this.opts;
    return {
      detail: `SIGSTOP ${victims.join(',')}`,
      act: async () => victims.forEach((id) => nodes.suspend(id)),
      heal: async () => victims.forEach((id) => nodes.resume(id)),
    };
  }

  private partitionFault(name: string, components: string[][]) {
    return this.cutFault(componentCuts(components), `${name}: ${components.map((c) => c.join(',')).join(' | ')}`);
  }

  private cutFault(cuts: Cuts, detail: string) {
    const { nodes } = this.opts;
    const lab = this.opts.lab!;
    return {
      detail,
      act: async () => {
        for (const [id, cut] of cuts) {
          lab.setRules(nodes.spec(id).index, { blockFrom: [...cut].map((o) => nodes.spec(o).ip), lossPercent: 0 });
        }
      },
      heal: async () => lab.healAll(),
    };
  }

  private delayFault(victims: string[]) {
    const { nodes, lab } = this.opts;
    if (lab?.netem) {
      return {
        detail: `netem delay ${DELAY_MS}ms +/- ${DELAY_JITTER_MS}ms on ${victims.join(',')}`,
        act: async () => victims.forEach((id) => lab.setNetemDelay(nodes.spec(id).index, DELAY_MS, DELAY_JITTER_MS)),
        heal: async () => victims.forEach((id) => lab.setNetemDelay(nodes.spec(id).index, 0, 0)),
      };
    }
    return {
      detail: `relay delay ${DELAY_MS}ms +/- ${DELAY_JITTER_MS}ms on Raft traffic through ${victims.join(',')} (no sch_netem: userspace relay)`,
      act: async () => {
        await Promise.all(victims.map((id) => nodes.setRelayDelay(id, DELAY_MS, DELAY_JITTER_MS)));
      },
      heal: async () => {
        await Promise.all(victims.map((id) => nodes.setRelayDelay(id, 0, 0)));
      },
    };
  }

  /** The master among the replicas `ids` (one group), '' when none answers within MASTER_WAIT_MS. */
  private async findMaster(ids: readonly string[]): Promise<string> {
    const deadline = Date.now() + MASTER_WAIT_MS;
    while (Date.now() < deadline && !this.stopped) {
      const statuses = await this.opts.monitor.pollAll(ids);
      let best: { id: string; term: number } | null = null;
      for (const [id, st] of statuses) {
        if (st?.role === 'MASTER' && !this.opts.nodes.isSuspended(id) && (best === null || st.term > best.term)) best = { id, term: st.term };
      }
      if (best) return best.id;
      await delay(50);
    }
    return '';
  }

  private pick(ids: readonly string[], count: number): string[] {
    return this.shuffle(ids).slice(0, count);
  }

  private shuffle(ids: readonly string[]): string[] {
    const out = [...ids];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.prng.intBelow(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
}
