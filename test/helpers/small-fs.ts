// Small filesystems of their own for disk-full tests (need root): a loop-mounted ext4 image (the
// closest to a real disk: O_DIRECT, real block allocation) or a size-limited tmpfs, and a filler
// file that takes the last byte.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export type FsKind = 'ext4' | 'tmpfs';

/** Mounts a filesystem of `bytes` at `dir` (created); an ext4 image goes to `imageDir`. Throws
 *  where it cannot. */
export function mountSmallFs(kind: FsKind, dir: string, bytes: number, imageDir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  if (kind === 'tmpfs') {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'pipe' });
    return;
  }
  const image = path.join(imageDir, `${path.basename(dir)}.img`);
  fs.writeFileSync(image, '');
  fs.truncateSync(image, bytes);
  execFileSync('mkfs.ext4', ['-q', '-F', image], { stdio: 'pipe' });
  execFileSync('mount', ['-o', 'loop', image, dir], { stdio: 'pipe' });
}

/** Mounts a tmpfs of `bytes` on `dir`. Returns null, or why not (the test skips). */
export function mountTmpfs(dir: string, bytes: number): string | null {
  if (process.getuid?.() !== 0) return 'needs root to mount a small tmpfs';
  try {
    mountSmallFs('tmpfs', dir, bytes, dir);
    return null;
  } catch (err) {
    return `cannot mount a tmpfs here: ${(err as Error).message.split('\n')[0]}`;
  }
}

/** Unmounts `dir`; nothing if it is not mounted (a failed start) or already gone. */
export function unmount(dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: 'pipe' });
  } catch {
    // not mounted
  }
}

/** Writes zeros to `file` until its filesystem has no byte left. */
export function fillUp(file: string): void {
  const fd = fs.openSync(file, 'w');
  try {
    for (const size of [64 * 1024, 512]) {
      try {
        for (;;) fs.writeSync(fd, Buffer.alloc(size));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}
