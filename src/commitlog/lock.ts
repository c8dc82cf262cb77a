// One process per store directory: `<dir>/LOCK` is created exclusively ('wx') and holds the pid.
// A lock left by a dead process (kill -9) is stale: process.kill(pid, 0) fails with ESRCH, and the
// lock is taken over with a warning.
import fs from 'node:fs';
import path from 'node:path';
import { CommitLogError } from './errors.ts';

export interface StoreLock {
  release(): void;
}

export function acquireLock(
  dir: string,
  warn: (msg: string, fields: object) => void,
): StoreLock {
  const file = path.join(dir, 'LOCK');
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = fs.openSync(file, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = readPid(file);
      if (pid !== null && pid !== process.pid && !alive(pid)) {
        warn('removing a stale store lock of a dead process', { dir, pid });
        fs.rmSync(file, { force: true });
        continue;
      }
      throw new CommitLogError(
        'STORE_LOCKED',
        `store ${dir} is locked by process ${pid ?? 'unknown'}` +
          (pid === process.pid ? ' (this process: opened twice)' : '') +
          ` (lock file ${file})`,
      );
    }
    fs.writeSync(fd, `${process.pid}\n`);
    fs.closeSync(fd);
    let released = false;
    return {
      release() {
        if (released) return;
        released = true;
        if (readPid(file) === process.pid) fs.rmSync(file, { force: true });
      },
    };
  }
  throw new CommitLogError('STORE_LOCKED', `store ${dir}: could not take the lock file ${file}`);
}

function readPid(file: string): number | null {
  try {
    const n = Number.parseInt(fs.readFileSync(file, 'utf8').trim(), 10);
    return Number.isSafeInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
