// Free ports for tests that start `raftmq cluster` on fixed port layouts (client P, Raft P + 10000,
// metrics P + 20000). Bases lie below Linux's ephemeral range, so that no outgoing connection
// takes one of them between the check and the start.
import net from 'node:net';
import { reservePort } from '../../src/net/index.ts';

/** Whether 127.0.0.1:port can be listened on now. */
export function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A base port in [20000, 22000), a multiple of `step`, such that base + each offset is bindable. */
export async function freeBasePort(offsets: readonly number[], step = 1): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20_000 + step * Math.floor((Math.random() * 2000) / step);
    // Reserved too (src/net/free-ports.ts), so no other test process choosing ports takes them.
    if ((await Promise.all(offsets.map((o) => bindable(base + o)))).every(Boolean) && offsets.every((o) => reservePort(base + o))) return base;
  }
  throw new Error('no free base port in [20000, 22000)');
}
