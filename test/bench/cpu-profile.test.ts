import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatSummary, mainThreadProfilesIn, summarizeProfile, type CpuProfile } from '../../scripts/bench/cpu-profile.ts';
import { replicaExtraNodeFlags } from '../../src/cli/index.ts';

const frame = (functionName: string, url = '', lineNumber = 0) => ({ functionName, url, lineNumber });
// Samples 1 ms apart from t = 1000 us: a, a, (idle), b, (garbage collector), a.
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('(root)') },
    { id: 2, callFrame: frame('a', 'file:///x/src/broker/replica.ts', 9) },
    { id: 3, callFrame: frame('(idle)') },
    { id: 4, callFrame: frame('b', 'node:net') },
    { id: 5, callFrame: frame('(garbage collector)') },
  ],
  samples: [2, 2, 3, 4, 5, 2],
  timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000],
  startTime: 0,
};

t.test('self time by function, idle left out of the busy share', async (t) => {
  const s = summarizeProfile(profile);
  t.equal(s.totalSec, 0.006);
  t.equal(s.busySec, 0.005);
  t.equal(s.gcSec, 0.001);
  t.same(s.top.map((x) => [x.name, x.sec]), [['a broker/replica.ts:10', 0.003], ['b node:net:1', 0.001], ['(garbage collector)', 0.001]]);
  t.equal(s.top[0].share, 0.6);
  t.match(formatSummary('n0', s), /n0: sampled 0\.0 s of the window, busy 0\.01 s \(GC 0\.00 s\)[\s\S]*60\.0%.*a broker\/replica\.ts:10/);
});

t.test('only the samples inside the window count', async (t) => {
  // Samples are at 1000, 2000, ... 6000 us; the window [3500, 5500] holds b and the GC.
  const s = summarizeProfile(profile, 12, 3500, 5500);
  t.equal(s.totalSec, 0.002);
  t.same(s.top.map((x) => x.name).sort(), ['(garbage collector)', 'b node:net:1']);
  t.equal(summarizeProfile(profile, 1).top.length, 1, 'topN limits the list');
});

t.test('main-thread profiles are found by their file name; worker threads are left out', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftmq-prof-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const f of ['CPU.20261203.190422.2997.0.001.cpuprofile', 'CPU.20261203.190422.2997.1.002.cpuprofile', 'notes.txt']) fs.writeFileSync(path.join(dir, f), '{}');
  t.same(mainThreadProfilesIn(dir), [{ file: path.join(dir, 'CPU.20261203.190422.2997.0.001.cpuprofile'), pid: 2997 }]);
  t.same(mainThreadProfilesIn(path.join(dir, 'missing')), []);
});

t.test('replica Node flags come from RAFTMQ_REPLICA_NODE_FLAGS', async (t) => {
  t.same(replicaExtraNodeFlags({}), []);
  t.same(replicaExtraNodeFlags({ RAFTMQ_REPLICA_NODE_FLAGS: '  --cpu-prof   --cpu-prof-dir=/tmp/p ' }), ['--cpu-prof', '--cpu-prof-dir=/tmp/p']);
});
