// One process per store directory.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { openCommitLog } from '../../src/commitlog/index.ts';
import fs from 'node:fs';
import { removeDir, tempDir } from './helpers.ts';

const holder = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'holder.ts');

t.test('opening the same directory twice fails with STORE_LOCKED', async (t) => {
  const dir = tempDir('lock');
  t.teardown(() => removeDir(dir));
  const log = await openCommitLog({ dir });
  await t.rejects(openCommitLog({ dir }), { code: 'STORE_LOCKED', message: new RegExp(`${dir} is locked by process ${process.pid}`) });
  await log.close();
  const again = await openCommitLog({ dir });
  t.pass('the lock is released on close');
  await again.close();
});

t.test('a store held by another process is refused naming its pid; its lock is stale once it is killed', async (t) => {
  const dir = tempDir('lock-proc');
  t.teardown(() => removeDir(dir));
  const child = spawn(process.execPath, ['--import', 'tsx', holder, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const pid = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = /ready (\d+)/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`holder exited ${code}`)));
  });
  await t.rejects(openCommitLog({ dir }), { code: 'STORE_LOCKED', message: new RegExp(`${dir} is locked by process ${pid}`) });
  const exited = new Promise((r) => child.on('exit', r));
  child.kill('SIGKILL');
  await exited;
  const log = await openCommitLog({ dir });
  t.pass('the kernel dropped the killed holder\'s lock: the store opens');
  await log.close();
});

t.test('a lock file naming this very pid (a restarted container gets the crashed one\'s pid) does not lock the store', async (t) => {
  const dir = tempDir('lock-pid');
  t.teardown(() => removeDir(dir));
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'LOCK'), `${process.pid}\n`); // left by a crash, nobody holds it
  const log = await openCommitLog({ dir });
  t.pass('opened: only a held lock counts, not the pid in the file');
  await log.close();
  t.ok(fs.existsSync(path.join(dir, 'LOCK')), 'the lock file stays (removing it could let two starters in)');
});
