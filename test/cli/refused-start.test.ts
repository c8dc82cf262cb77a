// A replica that refuses to start says why in its last line of stderr (issue 27, item 4): no
// line of the logger's own may come after the reason.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fsx from 'fs-native-extensions';
import t from 'tap';
import type { Test } from 'tap';
import { makeConfig, renderConfig } from '../../src/broker/index.ts';
import { LOADER_FLAGS } from '../../src/cli/index.ts';
import { freeLocalPorts } from '../../src/net/index.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/** Runs `raftmq node --config conf`; resolves its exit code and the last non-empty line of stderr. */
async function refusedStart(conf: string): Promise<{ code: number | null; lastLine: string; stderr: string }> {
  const child = spawn(process.execPath, [...LOADER_FLAGS, MAIN, 'node', '--config', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const code = await new Promise<number | null>((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000); // by PID; only if it hangs
    // 'close', not 'exit': stderr is read to its end.
    child.on('close', (c) => {
      clearTimeout(killer);
      resolve(c);
    });
  });
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  return { code, lastLine: lines.at(-1) ?? '', stderr };
}

async function writeConf(t: Test, values: Record<string, string> = {}): Promise<{ conf: string; dir: string; clientPort: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftmq-refused-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const [clientPort, peerPort] = await freeLocalPorts(2);
  const conf = path.join(dir, 'broker.conf');
  fs.writeFileSync(conf, renderConfig(makeConfig({ dLegerPeers: `n0-127.0.0.1:${peerPort}`, dLegerSelfId: 'n0', listenPort: String(clientPort), storePathRootDir: dir, ...values })));
  return { conf, dir, clientPort };
}

t.test('a store locked by another process: the lock is the last line of stderr', async (t) => {
  const { conf, dir } = await writeConf(t);
  // The store is locked by a live process: this one holds the kernel lock, as a running replica does.
  fs.mkdirSync(path.join(dir, 'commitlog'), { recursive: true });
  const fd = fs.openSync(path.join(dir, 'commitlog', 'LOCK'), 'w+');
  fs.writeSync(fd, `${process.pid}\n`);
  t.ok(fsx.tryLock(fd), 'this process holds the store lock');
  t.teardown(() => fs.closeSync(fd));
  const r = await refusedStart(conf);
  t.equal(r.code, 1, 'exit code 1');
  t.match(r.lastLine, new RegExp(`^raftmq node: could not start n0: store .*commitlog is locked by process ${process.pid}`), 'the reason is the last line', { stderr: r.stderr });
});

t.test('a client port in use: the port is the last line of stderr', async (t) => {
  const { conf, clientPort } = await writeConf(t);
  const squatter = net.createServer();
  await new Promise<void>((resolve) => squatter.listen(clientPort, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
  const r = await refusedStart(conf);
  t.equal(r.code, 1, 'exit code 1');
  t.match(r.lastLine, new RegExp(`^raftmq node: could not start n0: listen EADDRINUSE.*127\\.0\\.0\\.1:${clientPort}$`), 'the reason is the last line', { stderr: r.stderr });
});

t.test('a log directory that cannot be created: one line naming it', async (t) => {
  const { dir } = await writeConf(t);
  const blocker = path.join(dir, 'not-a-dir');
  fs.writeFileSync(blocker, '');
  const { conf } = await writeConf(t, { storePathRootDir: path.join(blocker, 'store') });
  const r = await refusedStart(conf);
  t.equal(r.code, 1, 'exit code 1');
  t.match(r.lastLine, /^raftmq node: could not start n0: cannot open its log under .*not-a-dir\/store: ENOTDIR/, 'the reason is the last line', { stderr: r.stderr });
  t.equal(r.stderr.trim().split('\n').length, 1, 'and nothing else');
});
