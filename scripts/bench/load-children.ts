// The driver's side of the load children: fork them, wait for ready, poll progress, open and
// close the measured window, and kill them by PID whatever happens.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LOADER_FLAGS } from '../../src/cli/index.ts';
import type { ChildMessage, DriverMessage, LoadChildConfig, ProgressReport, WindowResult } from './load-protocol.ts';

const CHILD_SCRIPT = fileURLToPath(new URL('./load-child.ts', import.meta.url));

interface Waiter {
  readonly type: ChildMessage['type'];
  readonly resolve: (m: ChildMessage) => void;
  readonly reject: (e: Error) => void;
}

export class LoadChild {
  readonly proc: ChildProcess;
  readonly pid: number;
  private waiters: Waiter[] = [];
  private gone: Error | null = null;

  constructor(readonly name: string, config: LoadChildConfig) {
    // Child stdout goes to our stderr: our stdout carries only the final JSON.
    this.proc = fork(CHILD_SCRIPT, [JSON.stringify(config)], { execArgv: [...LOADER_FLAGS], stdio: ['ignore', 2, 2, 'ipc'] });
    if (this.proc.pid === undefined) throw new Error(`${name}: fork failed`);
    this.pid = this.proc.pid;
    this.proc.on('message', (m: ChildMessage) => this.onMessage(m));
    this.proc.on('exit', (code, signal) => this.failAll(new Error(`${name} exited (${signal ?? `code ${code}`})`)));
    this.proc.on('error', (err) => this.failAll(new Error(`${name}: ${err.message}`)));
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async ready(timeoutMs: number): Promise<void> {
    await this.next('ready', timeoutMs);
  }

  /** Progress since the previous poll; null if the child did not answer in time. */
  async poll(timeoutMs: number): Promise<ProgressReport | null> {
    if (!this.tell({ type: 'poll' })) return null;
    try {
      return (await this.next('progress', timeoutMs)) as ProgressReport;
    } catch {
      return null;
    }
  }

  measure(): void {
    if (!this.tell({ type: 'measure' })) throw this.gone ?? new Error(`${this.name} is not running`);
  }

  async stop(timeoutMs: number): Promise<WindowResult> {
    const result = this.next('result', timeoutMs);
    if (!this.tell({ type: 'stop' })) throw this.gone ?? new Error(`${this.name} is not running`);
    return (await result) as WindowResult;
  }

  /** Waits up to `graceMs` for the child to leave by itself, then SIGKILLs it (by PID). */
  async end(graceMs: number): Promise<void> {
    if (!this.running) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    const timer = setTimeout(() => this.kill(), graceMs);
    await exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (!this.running) return;
    try {
      process.kill(this.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  private tell(m: DriverMessage): boolean {
    if (!this.running || !this.proc.connected) return false;
    this.proc.send(m);
    return true;
  }

  private next(type: ChildMessage['type'], timeoutMs: number): Promise<ChildMessage> {
    if (this.gone) return Promise.reject(this.gone);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`${this.name}: no ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter: Waiter = {
        type,
        resolve: (m) => (clearTimeout(timer), resolve(m)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
      this.waiters.push(waiter);
    });
  }

  private onMessage(m: ChildMessage): void {
    if (m.type === 'fatal') {
      this.failAll(new Error(`${this.name}: ${m.error}`));
      return;
    }
    const i = this.waiters.findIndex((w) => w.type === m.type);
    if (i < 0) return; // a late answer to a poll that timed out
    const [w] = this.waiters.splice(i, 1);
    w.resolve(m);
  }

  private failAll(err: Error): void {
    this.gone ??= err;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(this.gone);
  }
}

/** Splits `inflight` loops over `producers` children as evenly as possible. */
export function splitInflight(inflight: number, producers: number): number[] {
  return Array.from({ length: producers }, (_, i) => Math.floor(inflight / producers) + (i < inflight % producers ? 1 : 0));
}
