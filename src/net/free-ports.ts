// Free TCP ports on 127.0.0.1 for local groups started by tests, benchmarks and chaos runs.
//
// Not port 0: the kernel hands those out of the ephemeral range (32768-60999 by default), and a
// port released there can become the local port of an outgoing connection before the replica
// binds it (EADDRINUSE at start: a rare, real failure of the multi-process tests). Ports below
// the range are only ever taken by a listener, so one that binds now stays free for ours.
//
// Reserved for the process that chose them: a port stays ours after the replica using it dies (a
// test kills and restarts replicas), and another process choosing ports at the same time (two
// test files run at once) must not take it then. A reservation is a file named after the port in
// a shared folder, created exclusively and holding the chooser's pid; a dead pid's is taken over.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const LOW = 20_000;
const HIGH = 32_000;
const ATTEMPTS_MAX = 1000;

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export const PORT_RESERVATIONS_DIR = path.join(os.tmpdir(), 'raftmq-port-reservations');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Reserves `port` for this process; false when a live process (this one included) holds it.
 *  Where reservations cannot be written at all, every port counts as reservable (the bind check
 *  alone decides, as before). */
export function reservePort(port: number): boolean {
  const file = path.join(PORT_RESERVATIONS_DIR, String(port));
  try {
    fs.mkdirSync(PORT_RESERVATIONS_DIR, { recursive: true });
    fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return true;
  }
  let holder = NaN;
  try {
    holder = Number(fs.readFileSync(file, 'utf8'));
  } catch {
    return false; // being replaced by another process right now
  }
  if (Number.isInteger(holder) && holder > 0 && alive(holder)) return false;
  // A dead process's reservation: replaced through a rename, so a reader never sees a torn pid.
  const tmp = `${file}.${process.pid}`;
  try {
    fs.writeFileSync(tmp, String(process.pid));
    fs.renameSync(tmp, file);
    return Number(fs.readFileSync(file, 'utf8')) === process.pid;
  } catch {
    return false;
  }
}

/** `count` distinct ports in [20000, 32000) that could be bound on 127.0.0.1 just now, reserved
 *  for this process (no other process choosing ports here takes them while it lives). */
export async function freeLocalPorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  for (let attempt = 0; ports.size < count; attempt++) {
    if (attempt >= ATTEMPTS_MAX) throw new Error(`no ${count} free ports in [${LOW}, ${HIGH}) on 127.0.0.1`);
    // Math.random is fine here: a port choice, not part of any run that must replay.
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (!ports.has(port) && (await bindable(port)) && reservePort(port)) ports.add(port);
  }
  return [...ports];
}
