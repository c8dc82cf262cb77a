// Free TCP ports on 127.0.0.1 for local groups started by tests, benchmarks and chaos runs.
//
// Not port 0: the kernel hands those out of the ephemeral range (32768-60999 by default), and a
// port released there can become the local port of an outgoing connection before the replica
// binds it (EADDRINUSE at start: a rare, real failure of the multi-process tests). Ports below
// the range are only ever taken by a listener, so one that binds now stays free for ours.
import net from 'node:net';

const LOW = 20_000;
const HIGH = 32_000;
const ATTEMPTS_MAX = 1000;

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** `count` distinct ports in [20000, 32000) that could be bound on 127.0.0.1 just now. */
export async function freeLocalPorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  for (let attempt = 0; ports.size < count; attempt++) {
    if (attempt >= ATTEMPTS_MAX) throw new Error(`no ${count} free ports in [${LOW}, ${HIGH}) on 127.0.0.1`);
    // Math.random is fine here: a port choice, not part of any run that must replay.
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (!ports.has(port) && (await bindable(port))) ports.add(port);
  }
  return [...ports];
}
