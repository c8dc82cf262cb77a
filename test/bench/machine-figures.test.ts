import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { describeMachine, measureMachine } from '../../scripts/bench/machine-figures.ts';

t.test('the machine figures are measured, positive and described; nothing is left behind', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftmq-machine-test-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const m = await measureMachine(dir);
  for (const [k, v] of Object.entries(m)) t.ok(Number.isFinite(v) && v > 0, `${k} = ${v}`);
  // A round trip to another process cannot beat a microsecond, nor can an fdatasync that reached
  // the disk; a crc32 rate above 100 GB/s would mean the loop was optimized away.
  t.ok(m.loopbackRttP50Us >= 1, `loopback ${m.loopbackRttP50Us} us`);
  t.ok(m.crc32GBps < 100, `crc32 ${m.crc32GBps} GB/s`);
  t.same(fs.readdirSync(dir), [], 'scratch files are removed');
  const text = describeMachine(m);
  t.match(text, new RegExp(`crc32 ${m.crc32GBps} GB/s`));
  t.match(text, new RegExp(`round trip between processes p50 ${m.loopbackRttP50Us} us`));
  t.match(text, new RegExp(`direct \\(O_DSYNC\\) write p50 ${m.directWriteP50Us} us`));
});
