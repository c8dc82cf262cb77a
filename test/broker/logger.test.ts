// The broker's log files stay bounded: logs/broker.<N>.log rotated by size, at most
// logFileMaxCount of them (those of earlier runs too), logs/broker.log a link to the current one,
// whole JSON lines only, and nothing logged before flush() lost at close or exit.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { createLogger, type Logger } from '../../src/broker/index.ts';

const BROKER_MODULE = fileURLToPath(new URL('../../src/broker/index.ts', import.meta.url));
const LINE_FILE = /^broker\.(\d+)\.log$/;

function tempStore(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftmq-logger-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The numbered files of logs/, oldest first. */
function logFiles(store: string): string[] {
  const names = fs.readdirSync(path.join(store, 'logs')).filter((n) => LINE_FILE.test(n));
  return names.sort((a, b) => Number(LINE_FILE.exec(a)![1]) - Number(LINE_FILE.exec(b)![1]));
}

/** Every line of a file, parsed; a line that is not complete JSON fails the test. */
function linesOf(t: Test, file: string): { seq?: number; msg: string }[] {
  const text = fs.readFileSync(file, 'utf8');
  t.ok(text === '' || text.endsWith('\n'), `${path.basename(file)} ends with a whole line`);
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as { seq?: number; msg: string };
      } catch {
        t.fail(`${path.basename(file)}: not a JSON line: ${l.slice(0, 120)}`);
        return { msg: '' };
      }
    });
}

/** Logs `count` numbered lines from `from`, pausing every `batch` lines: a rotation happens
 *  between turns of the event loop, and pino-roll's deletion of old files (a readdir and unlinks,
 *  each rotation its own) has time to finish before the next one starts. */
async function logLines(logger: Logger, from: number, count: number, batch = 20): Promise<void> {
  for (let i = from; i < from + count; i++) {
    logger.info({ seq: i, pad: 'x'.repeat(40) }, 'line');
    if ((i + 1) % batch === 0) await sleep(5);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The numbered files once pino-roll's last deletion has had time to finish (it runs after the
 *  rotation, asynchronously): waits up to 3 s for at most `max`. */
async function settledFiles(store: string, max: number): Promise<string[]> {
  for (let waited = 0; logFiles(store).length > max && waited < 3000; waited += 20) await sleep(20);
  return logFiles(store);
}

t.test('a small logFileMaxSize rotates the file, keeps logFileMaxCount files, links broker.log to the newest', async (t) => {
  const store = tempStore(t);
  const logger = await createLogger({ nodeId: 'n0', storeDir: store, stderr: false, maxFileBytes: 2048, logFileMaxCount: 3 });
  await logLines(logger, 0, 600);
  // the last lines, with no turn of the event loop before flush and close
  for (let i = 600; i < 650; i++) logger.info({ seq: i }, 'line');
  logger.flush();
  await logger.close();

  const files = await settledFiles(store, 3);
  t.equal(files.length, 3, `logFileMaxCount files are kept: ${files.join(' ')}`);
  const highest = Number(LINE_FILE.exec(files.at(-1)!)![1]);
  t.ok(highest >= 10, `the file rotated many times (now at broker.${highest}.log)`);
  const link = path.join(store, 'logs', 'broker.log');
  t.ok(fs.lstatSync(link).isSymbolicLink(), 'logs/broker.log is a link');
  t.equal(fs.readlinkSync(link), files.at(-1), 'to the newest file');

  const seqs: number[] = [];
  for (const f of files) {
    const lines = linesOf(t, path.join(store, 'logs', f));
    t.ok(lines.length > 0, `${f} has lines`);
    t.ok(fs.statSync(path.join(store, 'logs', f)).size < 2048 + 50 * 120, `${f} is about the size asked for`);
    seqs.push(...lines.map((l) => l.seq!));
  }
  const last = linesOf(t, link).at(-1);
  t.equal(last?.seq, 649, 'the last line logged is the last line of the current file');
  const expected = Array.from({ length: 650 - seqs[0]! }, (_, i) => seqs[0]! + i);
  t.same(seqs, expected, 'the kept files hold the newest lines, in order, none missing');
});

t.test('a restart continues the numbering and counts the files of earlier runs', async (t) => {
  const store = tempStore(t);
  const first = await createLogger({ nodeId: 'n0', storeDir: store, stderr: false, maxFileBytes: 1024, logFileMaxCount: 4 });
  await logLines(first, 0, 200, 5);
  await first.close();
  const before = await settledFiles(store, 4);
  t.equal(before.length, 4, `first run: ${before.join(' ')}`);

  const second = await createLogger({ nodeId: 'n0', storeDir: store, stderr: false, maxFileBytes: 1024, logFileMaxCount: 2 });
  second.info({ seq: 200 }, 'restarted');
  t.equal(fs.readlinkSync(path.join(store, 'logs', 'broker.log')), before.at(-1), 'the restart appends to the newest file');
  await logLines(second, 201, 200, 5);
  await second.close();
  const after = await settledFiles(store, 2);
  t.equal(after.length, 2, `second run, logFileMaxCount=2: ${after.join(' ')}`);
  t.ok(Number(LINE_FILE.exec(after[0]!)![1]) > Number(LINE_FILE.exec(before.at(-1)!)![1]), 'the files of the first run were deleted');
  t.equal(linesOf(t, path.join(store, 'logs', 'broker.log')).at(-1)?.seq, 400);
});

t.test('logFileMaxCount=1 keeps the file being written only', async (t) => {
  const store = tempStore(t);
  const logger = await createLogger({ nodeId: 'n0', storeDir: store, stderr: false, maxFileBytes: 1024, logFileMaxCount: 1 });
  await logLines(logger, 0, 200, 5);
  logger.info({ seq: 200 }, 'last');
  await logger.close();
  const files = await settledFiles(store, 1);
  t.equal(files.length, 1, files.join(' '));
  t.ok(Number(LINE_FILE.exec(files[0]!)![1]) > 10, `after many rotations: ${files[0]}`);
  t.equal(fs.readlinkSync(path.join(store, 'logs', 'broker.log')), files[0]);
  t.equal(linesOf(t, path.join(store, 'logs', files[0]!)).at(-1)?.seq, 200);
});

t.test('a broker.log of an earlier version becomes the oldest file, deleted by rotation', async (t) => {
  const store = tempStore(t);
  fs.mkdirSync(path.join(store, 'logs'));
  fs.writeFileSync(path.join(store, 'logs', 'broker.log'), '{"msg":"from before"}\n');
  const logger = await createLogger({ nodeId: 'n0', storeDir: store, stderr: false, maxFileBytes: 1024, logFileMaxCount: 3 });
  t.equal(fs.readFileSync(path.join(store, 'logs', 'broker.0.log'), 'utf8'), '{"msg":"from before"}\n', 'kept as broker.0.log');
  t.ok(fs.lstatSync(path.join(store, 'logs', 'broker.log')).isSymbolicLink(), 'broker.log is now the link');
  await logLines(logger, 0, 200, 5);
  await logger.close();
  const files = await settledFiles(store, 3);
  t.notOk(files.includes('broker.0.log'), 'and deleted once there are logFileMaxCount newer files');
  t.equal(files.length, 3);
});

t.test('the level given reaches the file: debug lines at debug, none at info', async (t) => {
  for (const level of ['debug', 'info']) {
    const store = tempStore(t);
    const logger = await createLogger({ nodeId: 'n0', storeDir: store, stderr: false, level });
    logger.debug({}, 'a debug line');
    logger.info({}, 'an info line');
    await logger.close();
    const msgs = linesOf(t, path.join(store, 'logs', 'broker.log')).map((l) => l.msg);
    t.same(msgs, level === 'debug' ? ['a debug line', 'an info line'] : ['an info line'], `level ${level}`);
  }
});

t.test('createLogger fails fast when the log directory cannot be created or the file opened', async (t) => {
  const store = tempStore(t);
  const notADir = path.join(store, 'file');
  fs.writeFileSync(notADir, '');
  await t.rejects(createLogger({ nodeId: 'n0', storeDir: notADir, stderr: false }), { code: 'ENOTDIR' });
  fs.mkdirSync(path.join(store, 'dir-in-the-way', 'logs', 'broker.1.log'), { recursive: true });
  await t.rejects(createLogger({ nodeId: 'n0', storeDir: path.join(store, 'dir-in-the-way'), stderr: false }), { code: 'EISDIR' }, 'the file cannot be opened');
  fs.mkdirSync(path.join(store, 'ro', 'logs'), { recursive: true });
  fs.chmodSync(path.join(store, 'ro', 'logs'), 0o500);
  t.teardown(() => fs.chmodSync(path.join(store, 'ro', 'logs'), 0o700));
  const root = process.getuid?.() === 0;
  if (!root) await t.rejects(createLogger({ nodeId: 'n0', storeDir: path.join(store, 'ro'), stderr: false }), { code: 'EACCES' });
});

t.test('the lines logged before flush() and process.exit are in the file', async (t) => {
  const store = tempStore(t);
  const script = path.join(store, 'exit.mts');
  fs.writeFileSync(
    script,
    `import { createLogger } from ${JSON.stringify(BROKER_MODULE)};\n` +
      `const logger = await createLogger({ nodeId: 'n0', storeDir: ${JSON.stringify(store)}, stderr: false, maxFileBytes: 4096, logFileMaxCount: 3 });\n` +
      `for (let i = 0; i < 300; i++) { logger.info({ seq: i, pad: 'x'.repeat(40) }, 'line'); if (i % 20 === 19) await new Promise((r) => setImmediate(r)); }\n` +
      `logger.error({ seq: 300 }, 'fatal');\n` +
      `logger.flush();\n` +
      `process.exit(1);\n`,
  );
  const run = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 60_000 });
  t.equal(run.status, 1, run.stderr);
  const files = logFiles(store);
  t.ok(files.length >= 2 && files.length <= 3, `rotated, at most 3 files: ${files.join(' ')}`);
  const lines = linesOf(t, path.join(store, 'logs', 'broker.log'));
  t.same(lines.at(-1), { ...lines.at(-1), seq: 300, msg: 'fatal' }, 'the line logged just before exit is the last of the current file');
});
