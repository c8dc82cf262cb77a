// A state checkpoint on a real full filesystem (a 4 MiB tmpfs; needs root): the checkpoint that
// finds the disk full fails alone; once there is space the next one writes its changes too, and
// a reopened machine holds everything applied (consume queues, offsets, retention) as it was.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { BrokerStateMachine } from '../../src/broker/index.ts';
import { FakeLog } from './harness.ts';
import { fillUp, mountTmpfs, unmount } from '../helpers/small-fs.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'raftmq-checkpoint-full-'));
const skip = mountTmpfs(root, 4 * 1024 * 1024);
t.teardown(() => {
  if (skip === null) unmount(root);
  fs.rmSync(root, { recursive: true, force: true });
});

t.test('a checkpoint that finds the disk full fails alone; the next one, with space, writes what it held too', { skip: skip ?? false }, async (t) => {
  const dir = path.join(root, 'state');
  const log = new FakeLog();
  const sm = await BrokerStateMachine.open(dir, log.options());
  const send = (n: number): void => void sm.apply(log.append({ kind: 'sendBatch', topic: 'T', queueId: n % 2, storeTimestamp: n, autoCreateQueues: 2, messages: Array.from({ length: 50 }, () => ({ body: Uint8Array.of(n) })) }));
  for (let i = 0; i < 20; i++) send(i);
  await sm.checkpoint();
  const filler = path.join(root, 'filler');
  fillUp(filler);
  // Changes the full disk refuses: more messages, an offset commit, a retention mark.
  let refused: Error | null = null;
  for (let i = 20; i < 400 && refused === null; i++) {
    send(i);
    if (i === 25) sm.apply(log.append({ kind: 'commitOffsets', entries: [{ group: 'g', topic: 'T', queueId: 0, offset: 10 }] }));
    if (i === 30) sm.apply(log.append({ kind: 'retain', cutAt: 0, atMs: 7 }));
    await sm.checkpoint().catch((err: Error) => (refused = err));
  }
  t.match(refused, { message: /No space left on device/i }, 'a checkpoint found the disk full');
  // A try while it is still full may fail again or find room LevelDB freed: either is fine.
  await sm.checkpoint().catch(() => undefined);
  fs.rmSync(filler);
  send(999);
  const applied = await sm.checkpoint();
  t.equal(applied, sm.appliedIndex, 'once there is space a checkpoint goes through');
  const want = JSON.stringify(sm.snapshot());
  await sm.close();
  const again = await BrokerStateMachine.open(dir, log.options());
  t.equal(JSON.stringify(again.snapshot()), want, 'a reopened machine holds everything applied, the refused changes included');
  await again.close();
});
