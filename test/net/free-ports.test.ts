// Ports chosen for local groups are reserved for the choosing process: another process choosing
// at the same time (two test files at once) never takes a port whose replica was killed for a
// restart. A reservation of a live process is refused, one of a dead process is taken over.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { freeLocalPorts, reservePort, PORT_RESERVATIONS_DIR } from '../../src/net/index.ts';

// Above the range freeLocalPorts chooses from, so no real choice is disturbed.
const BASE = 64_000 + (process.pid % 1000);

t.test('a port is reserved once per live process; a dead holder is taken over; a live one is not', async (t) => {
  const mine = BASE;
  const file = (p: number) => path.join(PORT_RESERVATIONS_DIR, String(p));
  fs.rmSync(file(mine), { force: true });
  t.teardown(() => fs.rmSync(file(mine), { force: true }));
  t.ok(reservePort(mine), 'reserved');
  t.notOk(reservePort(mine), 'not twice while this process lives');

  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  fs.writeFileSync(file(mine), String(dead));
  t.ok(reservePort(mine), "a dead process's reservation is taken over");
  t.equal(fs.readFileSync(file(mine), 'utf8'), String(process.pid));

  const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
  t.teardown(() => void live.kill('SIGKILL'));
  fs.writeFileSync(file(mine), String(live.pid));
  t.notOk(reservePort(mine), "a live process's reservation is refused");
});

t.test('freeLocalPorts reserves what it returns', async (t) => {
  const ports = await freeLocalPorts(4);
  t.equal(new Set(ports).size, 4);
  for (const p of ports) t.equal(fs.readFileSync(path.join(PORT_RESERVATIONS_DIR, String(p)), 'utf8'), String(process.pid), `${p} is reserved for this process`);
  for (const p of ports) t.notOk(reservePort(p), `${p} is not handed out again`);
});
