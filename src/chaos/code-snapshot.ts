// Every replica of a run starts from the same code: a copy of src/ taken when the run begins.
// A run lasts minutes and restarts replicas all along; editing the working tree meanwhile would
// otherwise give a group of mixed versions (and findings that are about the mix). The copy lives
// under node_modules/.cache so package imports still resolve and git ignores it.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onExitCleanup } from './cleanup.ts';

/** This checkout's src/ and its parent. */
export const SRC_DIR = fileURLToPath(new URL('..', import.meta.url));
export const REPO_DIR = path.dirname(SRC_DIR);

export interface CodeSnapshot {
  /** The copied src/ directory. */
  readonly srcDir: string;
  remove(): void;
}

export function snapshotSources(): CodeSnapshot {
  const root = path.join(REPO_DIR, 'node_modules', '.cache', 'raftmq-chaos', `run-${process.pid}-${Date.now()}`);
  const srcDir = path.join(root, 'src');
  fs.mkdirSync(root, { recursive: true });
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    fs.rmSync(root, { recursive: true, force: true });
    unregister();
  };
  const unregister = onExitCleanup(remove);
  fs.cpSync(SRC_DIR, srcDir, { recursive: true, filter: (p) => !p.includes(`${path.sep}.`) });
  // Under node_modules the project's package.json does not count: say again that .ts is ESM.
  fs.writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'raftmq-chaos-snapshot', private: true, type: 'module' }) + '\n');
  return { srcDir, remove };
}
