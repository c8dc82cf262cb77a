// CPU and memory of a process from the kernel's own accounting (/proc, Linux only): what the
// process really cost, threads included (libuv's fsync pool, GC helpers), not a client's guess.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

let ticksPerSecond: number | undefined;

/** USER_HZ, the unit of utime/stime in /proc/<pid>/stat (`getconf CLK_TCK`, 100 almost always). */
function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
      ticksPerSecond = Number.isInteger(n) && n > 0 ? n : 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User and system CPU seconds the process has used so far, apart; null when it is gone. */
function cpuSplit(pid: number): { user: number; sys: number } | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may itself hold spaces or ')': the fixed
  // fields start after the last ')'. There, index 0 is field 3 (state); utime, stime are 14, 15.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null;
  return { user: utime / clockTicksPerSecond(), sys: stime / clockTicksPerSecond() };
}



/** Times the process's threads (those alive now: /proc/<pid>/status alone counts the main
 *  thread) were switched off a CPU so far: voluntarily (waiting for I/O, a lock, the event loop
 *  going idle) and involuntarily (preempted for another runnable thread: the CPUs are
 *  oversubscribed); null when the process is gone. */
export function contextSwitches(pid: number): { voluntary: number; involuntary: number } | null {
  let tids: string[];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  let voluntary = 0;
  let involuntary = 0;
  for (const tid of tids) {
    let text: string;
    try {
      text = fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    } catch {
      continue; // the thread ended since the listing
    }
    voluntary += Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(text)?.[1] ?? 0);
    involuntary += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)$/m.exec(text)?.[1] ?? 0);
  }
  return { voluntary, involuntary };
}

/** Resident memory (VmRSS) in MiB; null when the process is gone. */
export function rssMiB(pid: number): number | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(text);
  return m ? Number(m[1]) / 1024 : null;
}

/** Bytes an unprivileged writer can still put on the file system holding `dir`. */
export function freeDiskBytes(dir: string): number {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

/** CPU seconds the whole machine has spent busy (all CPUs; idle and iowait excluded), from
 *  /proc/stat: with the processes' own figures it shows how much other load shared the machine. */
export function machineBusyCpuSeconds(): number {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
  // cpu user nice system idle iowait irq softirq steal guest guest_nice (guest is inside user)
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq + (steal ?? 0)) / clockTicksPerSecond();
}

const TMPFS_MAGIC = 0x01021994;

/** True when `dir` is on tmpfs (RAM), where an fsync costs nothing and SYNC_FLUSH proves little. */
export function onTmpfs(dir: string): boolean {
  return fs.statfsSync(dir).type === TMPFS_MAGIC;
}

/** User + system CPU seconds of `pids` together, and the system part of it, from one read of
 *  each /proc/<pid>/stat; throws naming a pid that is gone (a crashed replica must not silently
 *  lower the figure). */
export function totalCpu(pids: readonly number[]): { total: number; sys: number } {
  let total = 0;
  let sys = 0;
  for (const pid of pids) {
    const s = cpuSplit(pid);
    if (s === null) throw new Error(`process ${pid} is gone (cannot read /proc/${pid}/stat)`);
    total += s.user + s.sys;
    sys += s.sys;
  }
  return { total, sys };
}

/** User + system CPU seconds of `pids` together (see totalCpu). */
export function totalCpuSeconds(pids: readonly number[]): number {
  return totalCpu(pids).total;
}
