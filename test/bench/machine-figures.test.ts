import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { describeMachine, measureMachine } from '../../scripts/bench/machine-figures.ts';

t.test('the machine figures are measured, positive and described; nothing is left behind', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftmq-machine-test-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const m = await measureMachine(dir);
  const { guestHaltPollNs, ...measured } = m;
  for (const [k, v] of Object.entries(measured)) t.ok(Number.isFinite(v) && v > 0, `${k} = ${v}`);
  t.ok(guestHaltPollNs === null || (Number.isInteger(guestHaltPollNs) && guestHaltPollNs >= 0), `guestHaltPollNs = ${guestHaltPollNs}`);
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

t.test('the description names the guest halt polling setting where there is one', async (t) => {
  const base = { crc32GBps: 3, freshWriteMBps: 5000, fdatasyncP50Us: 150, directWriteP50Us: 180, loopbackRttP50Us: 33 };
  t.match(describeMachine({ ...base, guestHaltPollNs: 0 }), /guest halt polling off/);
  t.match(describeMachine({ ...base, guestHaltPollNs: 200_000 }), /guest halt polling 200 us/);
  t.notMatch(describeMachine({ ...base, guestHaltPollNs: null }), /halt polling/);
});
