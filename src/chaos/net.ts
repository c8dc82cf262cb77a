// Emulated hosts for chaos runs: one network namespace per replica, joined by a bridge in the
// root namespace (where the load generator runs), addresses from a private /24 used by this run
// only. Network faults are firewall rules inside the namespaces (nftables, else iptables):
// partitions drop packets from the cut-off peers' addresses, loss drops a random share of
// packets. Delay uses tc netem when the kernel has it; otherwise a userspace relay in front of
// each replica's Raft port (delay-relay.ts) delays the peer traffic (nodes.ts starts them).
//
// Everything made here is removed by cleanup(), also on exit/signals (cleanup.ts).
import { execFileSync, spawnSync } from 'node:child_process';
import { onExitCleanup } from './cleanup.ts';

export interface Prerequisites {
  readonly ok: boolean;
  /** What is missing, one phrase each (empty when ok). */
  readonly missing: readonly string[];
  readonly firewall: 'nft' | 'iptables' | null;
  /** What was installed on the way (apt-get), for the log. */
  readonly installed: readonly string[];
}

const COMMAND_TIMEOUT_MS = 10_000;
const APT_TIMEOUT_MS = 180_000;

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function run(cmd: string, args: readonly string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs and never throws; returns whether it succeeded and its stderr. */
function tryRun(cmd: string, args: readonly string[]): { ok: boolean; err: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS, stdio: ['ignore', 'ignore', 'pipe'] });
  return { ok: r.status === 0, err: (r.stderr ?? '').trim() };
}

/**
 * Checks (and where it can, installs with apt-get) what network faults need: root, `ip` with
 * netns support, and nft or iptables. `tc` is optional (delay falls back to the relay).
 */
export function checkPrerequisites(opts: { install?: boolean; log?: (line: string) => void } = {}): Prerequisites {
  const log = opts.log ?? (() => {});
  const missing: string[] = [];
  const installed: string[] = [];
  if (process.platform !== 'linux') return { ok: false, missing: ['Linux (network namespaces)'], firewall: null, installed };
  if (process.getuid?.() !== 0) return { ok: false, missing: ['root (network namespaces and firewall rules need it)'], firewall: null, installed };
  const wanted: [string, string][] = [];
  if (!have('ip')) wanted.push(['ip', 'iproute2']);
  if (!have('nft') && !have('iptables')) wanted.push(['nft', 'nftables']);
  if (wanted.length > 0 && opts.install !== false && have('apt-get')) {
    const pkgs = wanted.map(([, p]) => p);
    log(`installing ${pkgs.join(' ')} with apt-get`);
    spawnSync('apt-get', ['update'], { stdio: 'ignore', timeout: APT_TIMEOUT_MS });
    const r = spawnSync('apt-get', ['install', '-y', ...pkgs], { stdio: 'ignore', timeout: APT_TIMEOUT_MS, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.status === 0) installed.push(...pkgs);
  }
  if (!have('ip')) missing.push('the ip command (Debian package iproute2)');
  const firewall = have('nft') ? 'nft' : have('iptables') ? 'iptables' : null;
  if (firewall === null) missing.push('nft or iptables (Debian package nftables or iptables)');
  if (missing.length === 0) {
    // The command may exist while the kernel or the container refuses namespaces.
    const probe = `rmqprobe${process.pid % 100000}`;
    const r = tryRun('ip', ['netns', 'add', probe]);
    if (!r.ok) missing.push(`network namespaces (ip netns add: ${r.err || 'failed'})`);
    else tryRun('ip', ['netns', 'del', probe]);
  }
  return { ok: missing.length === 0, missing, firewall, installed };
}

export interface HostAddress {
  readonly ns: string;
  readonly ip: string;
}

/** A rule set to apply in one namespace (replaces what was there). */
export interface NodeRules {
  /** Drop every packet from these addresses (partition: both sides list each other). */
  readonly blockFrom: readonly string[];
  /** Drop this percentage (0..100) of the packets arriving from the bridge. */
  readonly lossPercent: number;
}

const TABLE = 'raftmq_chaos';

/** The namespaces, the bridge and the firewall of one run. */
export class NetLab {
  readonly bridgeIp: string;
  readonly hosts: readonly HostAddress[];
  /** tc netem exists in this kernel (else delay goes through the relays). */
  readonly netem: boolean;
  private readonly firewall: 'nft' | 'iptables';
  private readonly bridge: string;
  private readonly vethHost: readonly string[];
  private readonly vethNs = 'eth0';
  private unregister: (() => void) | null = null;
  private cleaned = false;

  private constructor(opts: { tag: string; octet: number; nodes: number; firewall: 'nft' | 'iptables' }) {
    this.firewall = opts.firewall;
    this.bridgeIp = `10.77.${opts.octet}.1`;
    this.bridge = `${opts.tag}br`;
    this.hosts = Array.from({ length: opts.nodes }, (_, i) => ({ ns: `${opts.tag}n${i}`, ip: `10.77.${opts.octet}.${10 + i}` }));
    this.vethHost = this.hosts.map((_, i) => `${opts.tag}v${i}`);
    this.netem = false;
  }

  /** Creates the namespaces, veth pairs and the bridge. Throws (after cleaning up) on failure. */
  static create(opts: { nodes: number; firewall: 'nft' | 'iptables' }): NetLab {
    const lab = new NetLab({ tag: freeTag(), octet: freeOctet(), nodes: opts.nodes, firewall: opts.firewall });
    lab.unregister = onExitCleanup(() => lab.cleanup());
    try {
      lab.setUp();
      (lab as { netem: boolean }).netem = lab.probeNetem();
    } catch (err) {
      lab.cleanup();
      throw err;
    }
    return lab;
  }

  private setUp(): void {
    const subnetBits = '/24';
    run('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    run('ip', ['addr', 'add', this.bridgeIp + subnetBits, 'dev', this.bridge]);
    run('ip', ['link', 'set', this.bridge, 'up']);
    this.hosts.forEach((h, i) => {
      const peerName = `${this.vethHost[i]}p`;
      run('ip', ['netns', 'add', h.ns]);
      run('ip', ['-n', h.ns, 'link', 'set', 'lo', 'up']);
      run('ip', ['link', 'add', this.vethHost[i]!, 'type', 'veth', 'peer', 'name', peerName]);
      run('ip', ['link', 'set', peerName, 'netns', h.ns]);
      run('ip', ['-n', h.ns, 'link', 'set', peerName, 'name', this.vethNs]);
      run('ip', ['-n', h.ns, 'addr', 'add', h.ip + subnetBits, 'dev', this.vethNs]);
      run('ip', ['-n', h.ns, 'link', 'set', this.vethNs, 'up']);
      run('ip', ['link', 'set', this.vethHost[i]!, 'master', this.bridge]);
      run('ip', ['link', 'set', this.vethHost[i]!, 'up']);
      this.initFirewall(h.ns);
    });
  }

  private probeNetem(): boolean {
    const ns = this.hosts[0]!.ns;
    const r = tryRun('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', this.vethNs, 'root', 'netem', 'delay', '1ms']);
    if (r.ok) tryRun('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'del', 'dev', this.vethNs, 'root']);
    return r.ok;
  }

  /** The command prefix that runs a program inside node i's namespace. */
  execPrefix(i: number): string[] {
    return ['ip', 'netns', 'exec', this.hosts[i]!.ns];
  }

  private initFirewall(ns: string): void {
    if (this.firewall === 'nft') {
      run('ip', ['netns', 'exec', ns, 'nft', 'add', 'table', 'inet', TABLE]);
      run('ip', ['netns', 'exec', ns, 'nft', `add chain inet ${TABLE} input { type filter hook input priority 0; policy accept; }`]);
    }
  }

  /** Replaces node i's fault rules. */
  setRules(i: number, rules: NodeRules): void {
    const ns = this.hosts[i]!.ns;
    const loss = Math.max(0, Math.min(100, Math.round(rules.lossPercent)));
    if (this.firewall === 'nft') {
      const lines = [`flush chain inet ${TABLE} input`];
      if (rules.blockFrom.length > 0) lines.push(`add rule inet ${TABLE} input ip saddr { ${rules.blockFrom.join(', ')} } drop`);
      if (loss > 0) lines.push(`add rule inet ${TABLE} input iifname "${this.vethNs}" numgen random mod 100 < ${loss} drop`);
      // One nft -f: the rule set changes atomically.
      execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: lines.join('\n') + '\n', timeout: COMMAND_TIMEOUT_MS, stdio: ['pipe', 'ignore', 'pipe'] });
      return;
    }
    tryRun('ip', ['netns', 'exec', ns, 'iptables', '-F', 'INPUT']);
    for (const addr of rules.blockFrom) run('ip', ['netns', 'exec', ns, 'iptables', '-A', 'INPUT', '-s', addr, '-j', 'DROP']);
    if (loss > 0) {
      run('ip', ['netns', 'exec', ns, 'iptables', '-A', 'INPUT', '-i', this.vethNs, '-m', 'statistic', '--mode', 'random', '--probability', String(loss / 100), '-j', 'DROP']);
    }
  }

  /** netem delay on node i's interface (only when `netem`). ms 0 removes it. */
  setNetemDelay(i: number, ms: number, jitterMs: number): void {
    const ns = this.hosts[i]!.ns;
    if (ms <= 0) {
      tryRun('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'del', 'dev', this.vethNs, 'root']);
      return;
    }
    run('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'replace', 'dev', this.vethNs, 'root', 'netem', 'delay', `${ms}ms`, `${jitterMs}ms`, 'distribution', 'normal']);
  }

  /** Removes every fault rule (the namespaces stay). */
  healAll(): void {
    for (let i = 0; i < this.hosts.length; i++) {
      this.setRules(i, { blockFrom: [], lossPercent: 0 });
      if (this.netem) this.setNetemDelay(i, 0, 0);
    }
  }

  /** Deletes the namespaces (with their rules and veth ends) and the bridge. Idempotent, sync. */
  cleanup(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    this.removeLinksAndNamespaces();
    this.unregister?.();
    this.unregister = null;
  }

  private removeLinksAndNamespaces(): void {
    for (let i = 0; i < this.hosts.length; i++) {
      tryRun('ip', ['netns', 'del', this.hosts[i]!.ns]);
      tryRun('ip', ['link', 'del', this.vethHost[i]!]);
    }
    tryRun('ip', ['link', 'del', this.bridge]);
  }
}

/** A name prefix no namespace or link on this machine uses (another run may be going on: its
 *  leftovers are never touched). Interface names stay within 15 characters. */
function freeTag(): string {
  let names = '';
  try {
    names = run('ip', ['netns', 'list']) + run('ip', ['-o', 'link', 'show']);
  } catch {
    // no list: the pid-derived tag is very likely free
  }
  for (let k = 0; k < 100; k++) {
    const tag = `rmq${(process.pid + k * 7919) % 10000}`;
    if (!names.includes(`${tag}n`) && !names.includes(`${tag}br`) && !names.includes(`${tag}v`)) return tag;
  }
  throw new Error('no free name prefix for the chaos namespaces');
}

/** A third octet for 10.77.X.0/24 that no interface on this machine uses yet. */
function freeOctet(): number {
  let used = '';
  try {
    used = run('ip', ['-o', '-4', 'addr', 'show']);
  } catch {
    // no list: take the pid-derived one
  }
  const start = process.pid % 250;
  for (let k = 0; k < 250; k++) {
    const octet = 1 + ((start + k) % 250);
    if (!used.includes(` 10.77.${octet}.`)) return octet;
  }
  throw new Error('no free 10.77.X.0/24 subnet for the chaos network');
}
