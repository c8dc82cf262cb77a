// How replicas are started and how their exits are explained (src/cli/cluster.ts).
// From the sources, replicas are started with tsx's loader by absolute URL (src/cli/cluster.ts
// TSX_LOADER, in LOADER_FLAGS): with a bare `--import tsx`, `raftmq cluster` run outside the project
// had every replica exit at once. The built package needs no loader (test/package).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { makeConfig, renderConfig } from '../../src/broker/index.ts';
import { exitHint, LOADER_FLAGS, TSX_LOADER } from '../../src/cli/index.ts';
import { freeLocalPorts } from '../../src/net/index.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

t.test('from the sources, the loader is an absolute file URL that exists', async (t) => {
  t.match(TSX_LOADER, /^file:\/\//);
  t.ok(TSX_LOADER !== null && fs.existsSync(fileURLToPath(TSX_LOADER)));
  t.strictSame(LOADER_FLAGS, ['--import', TSX_LOADER]);
});

t.test('a replica command starts from a directory outside the project', async (t) => {
  const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'raftmq-cwd-'));
  t.teardown(() => fs.rmSync(elsewhere, { recursive: true, force: true }));
  const run = (loaderFlags: readonly string[]) => spawnSync(process.execPath, [...loaderFlags, MAIN, 'node', '--help'], { cwd: elsewhere, encoding: 'utf8', timeout: 60_000 });
  const ok = run(LOADER_FLAGS);
  t.equal(ok.status, 0, ok.stderr);
  t.match(ok.stdout, /raftmq node/);
  t.not(run(['--import', 'tsx']).status, 0, 'the bare specifier does not resolve there (what the fix is for)');
});

t.test('an exited replica is explained by its last log line, or by how to see its stderr', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftmq-exit-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const conf = path.join(dir, 'broker.conf');
  t.match(exitHint(conf), `no log yet; run \`raftmq node --config ${conf}\` in the foreground`);
  fs.mkdirSync(path.join(dir, 'logs'));
  fs.writeFileSync(path.join(dir, 'logs', 'broker.log'), '{"msg":"started"}\n{"msg":"listen EADDRINUSE 127.0.0.1:10911"}\n');
  t.match(exitHint(conf), /last line of .*broker\.log: \{"msg":"listen EADDRINUSE 127\.0\.0\.1:10911"\}$/);
});

t.test('a replica whose client port is taken exits with code 1 and says why, instead of running without a listener', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftmq-port-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const [clientPort, peerPort] = await freeLocalPorts(2);
  const squatter = net.createServer();
  await new Promise<void>((resolve) => squatter.listen(clientPort, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
  const conf = path.join(dir, 'broker.conf');
  fs.writeFileSync(conf, renderConfig(makeConfig({ dLegerPeers: `n0-127.0.0.1:${peerPort}`, dLegerSelfId: 'n0', listenPort: String(clientPort), storePathRootDir: dir })));
  const child = spawn(process.execPath, [...LOADER_FLAGS, MAIN, 'node', '--config', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const code = await new Promise<number | null>((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000); // by PID; only if it hangs
    child.on('exit', (c) => {
      clearTimeout(killer);
      resolve(c);
    });
  });
  t.equal(code, 1, 'exit code 1');
  t.match(stderr, new RegExp(`could not start n0: listen EADDRINUSE.*127\\.0\\.0\\.1:${clientPort}`));
});
