// raftmq as a user gets it: `npm run build`, `npm pack`, the tarball installed into a scratch
// project in a temporary directory (dependencies from the npm cache where it has them), then
// `import { Producer, PullConsumer, Admin } from 'raftmq'` used against a 1-node group started with
// the installed package's own bin. Proves that the tarball holds everything the client and the
// `raftmq` command need, that TypeScript finds the types through `exports`, and that replicas
// run as built JavaScript with no tsx (a devDependency, so not installed there).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { freeBasePort } from '../helpers/ports.ts';
import { alive } from '../helpers/processes.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NPM_TIMEOUT_MS = 120_000;
const GROUP_START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

/** The environment a user's shell would have, without npm's variables: under `npm test`,
 *  npm_config_local_prefix and friends point at this checkout, and an `npm install` run with them
 *  would install here. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  return env;
}

/** `cmd args` through `env -u NODE_OPTIONS`: the test runner puts its process-info loader into
 *  NODE_OPTIONS of every child it sees spawned, whatever env the child is given, and under it
 *  TypeScript 7's `tsc` fails to load (ERR_REQUIRE_CYCLE_MODULE). `env` execs, so the PID is the command's. */
function withoutRunnerOptions(cmd: string, args: readonly string[]): [string, string[]] {
  return ['env', ['-u', 'NODE_OPTIONS', cmd, ...args]];
}

function run(cmd: string, args: readonly string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const [file, argv] = withoutRunnerOptions(cmd, args);
    execFile(file, argv, { cwd, env: cleanEnv(), timeout: NPM_TIMEOUT_MS, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** The scratch project's program: what a user's code does with the package. */
const USER_PROGRAM = `
import { Admin, Producer, PullConsumer } from 'raftmq';
const servers = [process.argv[2]];
const admin = new Admin({ servers });
await admin.createTopic('installed', 2);
const producer = new Producer({ servers });
const sent = await producer.send('installed', { keys: 'k1', body: Buffer.from('hello from the tarball') });
const consumer = new PullConsumer({ servers, group: 'installed-readers' });
let received;
for await (const m of consumer.messages('installed', { fromBeginning: true })) {
  received = { topic: m.topic, keys: m.keys, body: Buffer.from(m.body).toString(), msgId: m.msgId };
  break;
}
const status = await admin.status(servers[0]);
await Promise.all([producer.close(), consumer.close(), admin.close()]);
console.log(JSON.stringify({ sentMsgId: sent.msgId, received, role: status.role }));
`;

const USER_TYPES = `
import { Producer, PullConsumer, Admin, RaftmqError, type ErrorCode, type StoredMessage } from 'raftmq';
const producer: Producer = new Producer({ servers: ['127.0.0.1:10911'] });
const consumer = new PullConsumer({ servers: ['127.0.0.1:10911'], group: 'g' });
const admin = new Admin({ servers: ['127.0.0.1:10911'] });
const code: ErrorCode = 'NOT_MASTER';
const first = (m: StoredMessage): string => m.msgId;
// @ts-expect-error: a code the wire does not have (the types are real, not any)
const wrong: ErrorCode = 'NO_SUCH_CODE';
export { producer, consumer, admin, code, first, wrong, RaftmqError };
`;

t.test('the packed tarball installs into a new project, and its client and bin work there without tsx', async (t) => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'raftmq-package-'));
  let launcher: ChildProcess | null = null;
  let replicaPid = 0;
  t.teardown(() => {
    // By PID, only what this test started, and only if still running.
    if (launcher?.pid !== undefined && launcher.exitCode === null && launcher.signalCode === null) process.kill(launcher.pid, 'SIGKILL');
    if (replicaPid > 0 && alive(replicaPid)) process.kill(replicaPid, 'SIGKILL');
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  await run('npm', ['run', '-s', 'build'], ROOT);
  t.ok(fs.existsSync(path.join(ROOT, 'dist', 'index.js')) && fs.existsSync(path.join(ROOT, 'dist', 'index.d.ts')), 'build emits JavaScript and declarations');
  // --ignore-scripts: prepack would build a second time.
  const packed = JSON.parse(await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', scratch], ROOT)) as { filename: string; files: { path: string }[] }[];
  const files = packed[0]!.files.map((f) => f.path);
  t.ok(files.includes('dist/index.js') && files.includes('dist/cli/main.js') && files.includes('bin/raftmq.js'), 'the tarball holds dist and the bin');
  t.notOk(files.some((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('dist/chaos/')), 'and no sources, tests or the chaos runner');

  const project = path.join(scratch, 'project');
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'raftmq-user', private: true, type: 'module' }));
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', path.join(scratch, packed[0]!.filename)], project);
  t.ok(fs.existsSync(path.join(project, 'node_modules', 'raftmq', 'dist', 'index.js')), 'installed');
  t.notOk(fs.existsSync(path.join(project, 'node_modules', 'tsx')), 'tsx is not installed with it');

  fs.writeFileSync(path.join(project, 'types.ts'), USER_TYPES);
  fs.writeFileSync(
    path.join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, types: ['node'], typeRoots: [path.join(ROOT, 'node_modules', '@types')] },
      files: ['types.ts'],
    }),
  );
  await run(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], project).then(
    () => t.pass('a TypeScript user gets the declarations through exports'),
    (err: Error) => t.fail(err.message),
  );

  // A client port P whose Raft (P + 10000) and metrics (P + 20000) ports are free too.
  const basePort = await freeBasePort([0, 10_000, 20_000]);
  const bin = path.join(project, 'node_modules', '.bin', 'raftmq');
  const proc = spawn(...withoutRunnerOptions(bin, ['cluster', '--nodes', '1', '--dir', path.join(scratch, 'data'), '--base-port', String(basePort)]), {
    cwd: project,
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  launcher = proc;
  const lines = readline.createInterface({ input: proc.stdout! });
  const output: string[] = [];
  const elected = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), GROUP_START_TIMEOUT_MS);
    lines.on('line', (line) => {
      output.push(line);
      const started = /^n0 client=\S+ pid=(\d+)/.exec(line);
      if (started) replicaPid = Number(started[1]);
      if (line.startsWith('master: n0')) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    proc.once('exit', () => resolve(false));
  });
  t.ok(elected, `the installed bin started a 1-node group and it elected a master:\n${output.join('\n')}`);
  t.ok(replicaPid > 0, 'the launcher named the replica pid');
  if (!elected) return;

  const cmdline = fs.readFileSync(`/proc/${replicaPid}/cmdline`, 'utf8').split('\0');
  t.ok(cmdline.some((a) => a.endsWith(path.join('node_modules', 'raftmq', 'dist', 'cli', 'main.js'))), `the replica runs the built JavaScript: ${cmdline.join(' ')}`);
  t.notOk(cmdline.some((a) => a.includes('tsx')), 'with no tsx loader');

  fs.writeFileSync(path.join(project, 'use.mjs'), USER_PROGRAM);
  const result = JSON.parse(await run(process.execPath, ['use.mjs', `127.0.0.1:${basePort}`], project)) as {
    sentMsgId: string;
    received: { topic: string; keys: string; body: string; msgId: string };
    role: string;
  };
  t.strictSame(result.received, { topic: 'installed', keys: 'k1', body: 'hello from the tarball', msgId: result.sentMsgId }, 'a message sent with the installed client is pulled back');
  t.equal(result.role, 'MASTER', 'Admin.status reaches the replica');

  const metrics = await (await fetch(`http://127.0.0.1:${basePort + 20_000}/metrics`)).text();
  t.match(metrics, /^raftmq_raft_role\{role="leader"\} 1$/m, 'the installed replica serves its metrics');
  const dashboard = spawn(...withoutRunnerOptions(bin, ['dashboard', '--servers', `127.0.0.1:${basePort}`, '--port', '0']), { cwd: project, env: cleanEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      readline.createInterface({ input: dashboard.stdout! }).on('line', (line) => line.startsWith('dashboard: ') && resolve(line.slice('dashboard: '.length)));
      dashboard.once('exit', (code) => reject(new Error(`raftmq dashboard exited with ${code}`)));
    });
    t.match(await (await fetch(url)).text(), /<title>raftmq dashboard<\/title>/, 'the installed package serves the dashboard page');
    t.equal((await fetch(new URL('/assets/uPlot.iife.min.js', url))).status, 200, 'and its chart library, from the package');
  } finally {
    process.kill(dashboard.pid!, 'SIGTERM');
  }

  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  process.kill(proc.pid!, 'SIGTERM');
  // The guard's timer is cleared: left running, it kept the test process alive 15 s after the end.
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([exited, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), STOP_TIMEOUT_MS)))]);
  clearTimeout(timer);
  t.equal(code, 0, 'the launcher stops its replica and exits');
  t.notOk(alive(replicaPid), 'the replica is gone');
});
