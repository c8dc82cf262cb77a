// One process per store directory: an advisory lock (flock) on `<dir>/LOCK`, held on an open file
// descriptor for as long as the store is open. The kernel drops it when the process dies, however
// it dies, so a restarted replica never finds a stale lock, even with the pid of the one that
// crashed (PID 1 in a container). The file holds the holder's pid, only to name it in the error.
// The file is never removed: a starter that opened it just before a removal would lock a file
// nobody else can see.
import fs from 'node:fs';
import path from 'node:path';
import fsx from 'fs-native-extensions';
import { CommitLogError } from './errors.ts';

export interface StoreLock {
  release(): void;
}

export function acquireLock(dir: string): StoreLock {
  const file = path.join(dir, 'LOCK');
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
  let locked = false;
  try {
    locked = fsx.tryLock(fd);
  } catch (err) {
    fs.closeSync(fd);
    throw new CommitLogError('IO_ERROR', `store ${dir}: cannot lock ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (!locked) {
    const pid = readPid(fd);
    fs.closeSync(fd);
    throw new CommitLogError(
      'STORE_LOCKED',
      `store ${dir} is locked by process ${pid ?? 'unknown'}` + (pid === process.pid ? ' (this process: opened twice)' : '') + ` (lock file ${file})`,
    );
  }
  const text = Buffer.from(`${process.pid}\n`);
  fs.ftruncateSync(fd, 0);
  fs.writeSync(fd, text, 0, text.length, 0);
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      fsx.unlock(fd);
      fs.closeSync(fd);
    },
  };
}

function readPid(fd: number): number | null {
  const buf = Buffer.alloc(32);
  const n = fs.readSync(fd, buf, 0, buf.length, 0);
  const pid = Number.parseInt(buf.subarray(0, n).toString('utf8').trim(), 10);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}
