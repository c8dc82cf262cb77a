// Replicas are started with tsx's loader by absolute URL (src/cli/cluster.ts TSX_LOADER): with a
// bare `--import tsx`, `raftmq cluster` run outside the project had every replica exit at once.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { TSX_LOADER } from '../../src/cli/cluster.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

t.test('the loader is an absolute file URL that exists', async (t) => {
  t.match(TSX_LOADER, /^file:\/\//);
  t.ok(fs.existsSync(fileURLToPath(TSX_LOADER)));
});

t.test('a replica command starts from a directory outside the project', async (t) => {
  const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'raftmq-cwd-'));
  t.teardown(() => fs.rmSync(elsewhere, { recursive: true, force: true }));
  const run = (loader: string) => spawnSync(process.execPath, ['--import', loader, MAIN, 'node', '--help'], { cwd: elsewhere, encoding: 'utf8', timeout: 60_000 });
  const ok = run(TSX_LOADER);
  t.equal(ok.status, 0, ok.stderr);
  t.match(ok.stdout, /raftmq node/);
  t.not(run('tsx').status, 0, 'the bare specifier does not resolve there (what the fix is for)');
});
