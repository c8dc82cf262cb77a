// The core must never copy entry bodies: the Buffer a client proposes is the one that reaches the
// followers' messages, their storage and every node's committed entries. (Speed itself is measured
// by `npm run bench:core`, never asserted in a test.)
import t from 'tap';
import { MessageType } from '../../src/raft/index.ts';
import { Network } from './helpers.ts';

t.test('a proposed body travels by reference to followers and to every applied entry', async (t) => {
  const net = new Network(['n0', 'n1', 'n2']);
  const leader = net.electLeader();
  const body = Buffer.alloc(1024, 7);
  const appendBodies: Uint8Array[] = [];
  net.filter = (m) => {
    if (m.type === MessageType.Append) for (const e of m.entries) if (e.data.byteLength === 1024) appendBodies.push(e.data);
    return true;
  };
  const res = net.node(leader).propose([body]);
  t.ok(res.ok, 'proposal accepted');
  net.stabilize();
  net.tick(leader); // followers learn the commit index with the next append or tick
  t.ok(appendBodies.length >= 2, 'the entry was sent to both followers');
  t.ok(appendBodies.every((d) => d === body), 'every Append carries the very same Buffer');
  for (const [id, n] of net.nodes) {
    const applied = n.applied.find((e) => e.data.byteLength === 1024);
    t.ok(applied, `${id} applied the entry`);
    t.equal(applied?.data, body, `${id} applied the same Buffer, not a copy`);
  }
});
