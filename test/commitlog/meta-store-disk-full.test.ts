// The meta store on a real full filesystem (a 2 MiB tmpfs; needs root): a hard-state write that
// finds the disk full fails with DISK_FULL and leaves the old hard state; once there is space the
// same store takes writes again (LevelDB keeps a failed synced write's error for the open
// database: the store reopens it), and a reopened store reads the last durable hard state.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { openMetaStore } from '../../src/commitlog/index.ts';
import { fillUp, mountTmpfs, unmount } from '../helpers/small-fs.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'raftmq-meta-full-'));
const skip = mountTmpfs(root, 2 * 1024 * 1024);
t.teardown(() => {
  if (skip === null) unmount(root);
  fs.rmSync(root, { recursive: true, force: true });
});

t.test('a hard-state write on a full disk fails with DISK_FULL; the store writes again once there is space', { skip: skip ?? false }, async (t) => {
  const dir = path.join(root, 'meta');
  const meta = await openMetaStore(dir);
  await meta.setHardState({ term: 1, vote: 'n0', commit: 0 });
  // Fill the filesystem to the last byte.
  const filler = path.join(root, 'filler');
  fillUp(filler);
  // A small record may still fit in the last page of LevelDB's log: write until one does not.
  let refused: { code?: string; message: string } | null = null;
  let term = 2;
  for (; term < 5000 && refused === null; term++) {
    await meta.setHardState({ term, vote: 'n1', commit: 0 }).catch((err: { code?: string; message: string }) => (refused = err));
  }
  t.match(refused, { code: 'DISK_FULL', message: /disk full while writing the hard state/ });
  const kept = meta.getHardState().term;
  t.equal(kept, term - 2, 'the failed write left the last durable hard state');
  await t.rejects(meta.setHardState({ term: term + 1, vote: 'n1', commit: 0 }), { code: 'DISK_FULL' }, 'still full: refused again');
  fs.rmSync(filler);
  await meta.setHardState({ term: 9000, vote: 'n2', commit: 5 });
  t.equal(meta.getHardState().term, 9000, 'written once there is space');
  await meta.close();
  const again = await openMetaStore(dir);
  t.match(again.getHardState(), { term: 9000, vote: 'n2', commit: 5 }, 'and durable');
  await again.close();
});
