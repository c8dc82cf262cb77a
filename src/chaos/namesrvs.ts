// The NameServers of a chaos run as real `raftmq namesrv` processes, in the root namespace (on the
// bridge's address when the replicas have namespaces: partitions cut replicas from each other,
// not from the NameServers), started, SIGKILLed and restarted by PID. A NameServer keeps routes in
// memory only: a restarted one is empty until the replicas register again.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { onExitCleanup } from './cleanup.ts';
import { REPO_DIR, SRC_DIR } from './code-snapshot.ts';
import { freeLocalPorts } from '../net/index.ts';

const NAMESRV_PORT = 9876;
const START_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 5000;
/** NameServers of one run (each replica registers with every one). */
export const NAMESRV_COUNT_MAX = 4;
const LISTENING = 'namesrv listening on ';

export interface NamesrvOptions {
  readonly count: number;
  /** The address they listen on: the bridge's with namespaces, else 127.0.0.1 (free ports). */
  readonly host: string;
  /** Where their logs go (<dir>/namesrv-<i>.log). */
  readonly dir: string;
  /** The src/ directory they run from (default: this checkout's). */
  readonly srcDir?: string;
}

export class ChaosNamesrvs {
  /** host:port of each, in order. */
  readonly addrs: readonly string[];
  private readonly procs: (ChildProcess | null)[];
  private readonly unregister: () => void;

  private constructor(
    private readonly opts: NamesrvOptions,
    addrs: string[],
  ) {
    this.addrs = addrs;
    this.procs = addrs.map(() => null);
    this.unregister = onExitCleanup(() => this.killAllSync());
  }

  /** Picks the addresses (nothing runs yet: start() each). */
  static async create(opts: NamesrvOptions): Promise<ChaosNamesrvs> {
    if (!Number.isInteger(opts.count) || opts.count < 1 || opts.count > NAMESRV_COUNT_MAX) throw new Error(`NameServers: 1..${NAMESRV_COUNT_MAX}, got ${opts.count}`);
    const ports = opts.host === '127.0.0.1' ? await freeLocalPorts(opts.count) : Array.from({ length: opts.count }, (_, i) => NAMESRV_PORT + i);
    fs.mkdirSync(opts.dir, { recursive: true });
    return new ChaosNamesrvs(opts, ports.map((p) => `${opts.host}:${p}`));
  }

  /** 'ns0', 'ns1', ...: their names in faults and logs. */
  get names(): string[] {
    return this.addrs.map((_, i) => `ns${i}`);
  }

  running(i: number): boolean {
    const p = this.procs[i];
    return !!p && p.exitCode === null && p.signalCode === null;
  }

  /** Starts NameServer i and resolves once it listens (rejects after START_TIMEOUT_MS). */
  async start(i: number): Promise<void> {
    if (this.running(i)) return;
    const port = this.addrs[i]!.slice(this.addrs[i]!.lastIndexOf(':') + 1);
    const log = fs.openSync(path.join(this.opts.dir, `namesrv-${i}.log`), 'a');
    const main = path.join(this.opts.srcDir ?? SRC_DIR, 'cli', 'main.ts');
    // cwd: where `--import tsx` resolves, whatever directory the runner was started from.
    const proc = spawn(process.execPath, ['--import', 'tsx', main, 'namesrv', '--port', port, '--host', this.opts.host], { cwd: REPO_DIR, stdio: ['ignore', 'pipe', log], detached: true });
    fs.closeSync(log);
    proc.on('error', () => {});
    this.procs[i] = proc;
    const lines = readline.createInterface({ input: proc.stdout! });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`NameServer ${i} did not listen within ${START_TIMEOUT_MS} ms (log: ${path.join(this.opts.dir, `namesrv-${i}.log`)})`)), START_TIMEOUT_MS);
        const onExit = (code: number | null): void => done(new Error(`NameServer ${i} exited (${code}) before it listened (log: ${path.join(this.opts.dir, `namesrv-${i}.log`)})`));
        const onLine = (line: string): void => {
          if (line.startsWith(LISTENING)) done(null);
        };
        const done = (err: Error | null): void => {
          clearTimeout(timer);
          lines.off('line', onLine);
          proc.off('exit', onExit);
          if (err) reject(err);
          else resolve();
        };
        lines.on('line', onLine);
        proc.once('exit', onExit);
      });
    } finally {
      // Its stdout has nothing more to say; keep draining it so the pipe never fills.
      lines.on('line', () => {});
    }
  }

  async startAll(): Promise<void> {
    await Promise.all(this.addrs.map((_, i) => this.start(i)));
  }

  /** SIGKILL and wait for the exit. */
  async kill(i: number): Promise<void> {
    await this.signalAndWait(i, 'SIGKILL');
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.addrs.map((_, i) => this.signalAndWait(i, 'SIGTERM')));
  }

  private async signalAndWait(i: number, signal: NodeJS.Signals): Promise<void> {
    const p = this.procs[i];
    if (!p || !this.running(i) || p.pid === undefined) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    try {
      process.kill(p.pid, signal);
    } catch {
      // exited meanwhile: the exit event comes anyway
    }
    const timer = setTimeout(() => {
      if (this.running(i)) this.killPid(p.pid!);
    }, STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }

  private killPid(pid: number): void {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  /** SIGKILL whatever still runs (sync: for exit handlers). */
  killAllSync(): void {
    for (const p of this.procs) if (p?.pid !== undefined && p.exitCode === null && p.signalCode === null) this.killPid(p.pid);
  }

  /** Kills everything and unregisters the exit cleanup. */
  async destroy(): Promise<void> {
    await Promise.all(this.addrs.map((_, i) => this.kill(i)));
    this.unregister();
  }
}
