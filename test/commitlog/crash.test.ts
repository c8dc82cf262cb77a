// Real crashes: a child process appends under SYNC_FLUSH (then ASYNC_FLUSH) and reports each acknowledged index; the
// parent kills it with SIGKILL at a random (seeded) moment, reopens the store and checks that
// every acknowledged entry is there byte for byte and that every readable record is whole.
// Replay: SEED=<seed> npx tap test/commitlog/crash.test.ts ; CYCLES=<n> for longer runs.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { openCommitLog } from '../../src/commitlog/index.ts';
import { crashBody, crashSegmentBytes } from './crash-body.ts';
import { collectLog, removeDir, tempDir } from './helpers.ts';

const SEED = process.env.SEED !== undefined ? Number(process.env.SEED) : 1234;
const CYCLES = Number(process.env.CYCLES ?? 12);
const here = path.dirname(fileURLToPath(import.meta.url));
const writer = path.join(here, 'fixtures', 'writer.ts');

function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

/** Runs the writer, kills it `killAfterMs` after it is ready; returns the highest acked index. */
function runAndKill(dir: string, term: number, killAfterMs: number, mode: string): Promise<{ acked: number; stderr: string; killedReady: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', writer, dir, String(term), mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let acked = 0;
    let buf = '';
    let stderr = '';
    let ready = false;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('ack ')) acked = Math.max(acked, Number(line.slice(4)));
        else if (line.startsWith('ready') && !ready) {
          ready = true;
          setTimeout(() => child.kill('SIGKILL'), killAfterMs);
        }
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => (stderr += c));
    const guard = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      // Lines that arrived before the kill count: the parent saw them, so they were acknowledged.
      if (signal !== 'SIGKILL') reject(new Error(`writer exited with ${code}: ${stderr}`));
      else resolve({ acked, stderr, killedReady: ready });
    });
  });
}

for (const mode of ['SYNC_FLUSH', 'ASYNC_FLUSH'] as const) t.test(`every acknowledged ${mode} append survives kill -9, and nothing is half there`, async (t) => {
  // ASYNC_FLUSH acknowledges after write() (on the thread pool for a huge record): a killed
  // process loses nothing acknowledged either.
  t.comment(`${mode}: seed ${SEED}, ${CYCLES} cycles (replay: SEED=${SEED} CYCLES=${CYCLES} npx tap test/commitlog/crash.test.ts)`);
  const rand = prng(SEED);
  const dir = tempDir('crash');
  t.teardown(() => removeDir(dir));
  const terms: number[] = [0]; // terms[i] = term of record i as seen after the last reopen
  let totalAcked = 0;
  let cuts = 0;
  for (let cycle = 1; cycle <= CYCLES; cycle++) {
    const killAfterMs = Math.floor(rand() * 250);
    const { acked } = await runAndKill(dir, cycle, killAfterMs, mode);
    const { lines, log: logFn } = collectLog();
    const big = mode === 'ASYNC_FLUSH';
    const log = await openCommitLog({ dir, segmentBytes: crashSegmentBytes(big), indexEntriesPerFile: 1024, log: logFn });
    cuts += lines.filter((l) => l.msg.startsWith('cut a torn tail')).length;
    const last = log.lastIndex();
    if (last < acked) t.fail(`cycle ${cycle}: acked ${acked} but the log ends at ${last}`);
    // Every record readable is whole and is exactly what some writer wrote at that index.
    let index = 1;
    let bad = 0;
    while (index <= last) {
      const recs = log.read(index, 4 * 1024 * 1024);
      for (const r of recs) {
        if (r.index !== index) bad++;
        if (!Buffer.from(r.data).equals(crashBody(r.index, r.term, big)) || r.term < 1 || r.term > cycle) bad++;
        if (r.index < terms.length && terms[r.index] !== r.term) bad++; // records never change
        terms[r.index] = r.term;
        index++;
      }
    }
    terms.length = last + 1;
    if (bad > 0) t.fail(`cycle ${cycle}: ${bad} bad records`);
    totalAcked = Math.max(totalAcked, acked);
    await log.close();
  }
  t.ok(totalAcked > 0, `writers acknowledged up to ${totalAcked}; ${cuts} torn tails were cut`);
  t.comment(`acked up to ${totalAcked}, log holds ${terms.length - 1}, torn tails cut: ${cuts}`);
});
