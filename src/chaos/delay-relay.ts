// A TCP relay with switchable delay: the fallback for `random-delay` where the kernel has no
// tc netem. Runs in a replica's namespace, listens where the other replicas dial it for Raft
// and forwards to the replica's real peer port. While delay is on, every chunk in either
// direction waits delay +/- jitter ms (uniform), never overtaking the chunk before it (TCP keeps
// order, so a later chunk waits at least as long as the one ahead of it).
//
// When the replica's end closes or resets, the dialer's end is reset too: a killed replica
// looks the same to its peers as without the relay.
//
// Control on stdin, one command a line, answered "ok" on stdout:
//   delay <ms> <jitterMs>     switch delay on
//   delay 0 0                 switch it off (queued chunks still go out in order)
//
// usage: node --import tsx delay-relay.ts <listenHost> <listenPort> <targetHost> <targetPort> <seed>
import net from 'node:net';
import readline from 'node:readline';
import { Prng } from '../raft/index.ts';

/** Bytes waiting in one direction before the relay stops reading its source (backpressure). */
const QUEUED_BYTES_MAX = 8 * 1024 * 1024;
const CONNECTIONS_MAX = 64;

const [listenHost, listenPortText, targetHost, targetPortText, seedText] = process.argv.slice(2);
if (!listenHost || !listenPortText || !targetHost || !targetPortText) {
  process.stderr.write('usage: delay-relay.ts <listenHost> <listenPort> <targetHost> <targetPort> [seed]\n');
  process.exit(2);
}
const prng = new Prng(Number(seedText ?? 1));
let delayMs = 0;
let jitterMs = 0;
let connections = 0;

function chunkDelay(): number {
  if (delayMs <= 0) return 0;
  return Math.max(0, delayMs - jitterMs + prng.intBelow(2 * jitterMs + 1));
}

/** One direction: src -> dst with the current delay, in order, bounded. One FIFO and one timer
 *  per direction: separate timers per chunk could fire out of order (timers round to whole
 *  milliseconds against a cached clock), and a reordered byte stream is a corrupted one. */
function pipeDelayed(src: net.Socket, dst: net.Socket): void {
  const queue: { due: number; chunk: Buffer }[] = [];
  let head = 0;
  let queuedBytes = 0;
  let lastDue = 0;
  let timer: NodeJS.Timeout | null = null;
  const pump = (): void => {
    timer = null;
    const now = Date.now();
    while (head < queue.length && queue[head]!.due <= now) {
      const { chunk } = queue[head]!;
      queue[head++] = undefined as unknown as { due: number; chunk: Buffer };
      queuedBytes -= chunk.length;
      if (!dst.destroyed) dst.write(chunk);
    }
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    } else {
      timer = setTimeout(pump, Math.max(1, queue[head]!.due - now));
    }
    if (queuedBytes <= QUEUED_BYTES_MAX && src.isPaused()) src.resume();
  };
  src.on('data', (chunk: Buffer) => {
    const wait = chunkDelay();
    if (wait === 0 && head === queue.length) {
      dst.write(chunk);
      return;
    }
    lastDue = Math.max(Date.now() + wait, lastDue);
    queue.push({ due: lastDue, chunk });
    queuedBytes += chunk.length;
    if (queuedBytes > QUEUED_BYTES_MAX) src.pause();
    if (timer === null) timer = setTimeout(pump, Math.max(1, lastDue - Date.now()));
  });
  src.on('close', () => {
    if (timer) clearTimeout(timer);
  });
}

const server = net.createServer((client) => {
  if (connections >= CONNECTIONS_MAX) {
    client.resetAndDestroy();
    return;
  }
  connections++;
  client.setNoDelay(true);
  const upstream = net.connect({ host: targetHost, port: Number(targetPortText) });
  upstream.setNoDelay(true);
  let closed = false;
  const closeBoth = (reset: boolean): void => {
    if (closed) return;
    closed = true;
    connections--;
    for (const s of [client, upstream]) {
      if (reset) s.resetAndDestroy();
      else s.destroy();
    }
  };
  pipeDelayed(client, upstream);
  pipeDelayed(upstream, client);
  // Any error or close on either side: reset the other (a dead replica must look dead at once).
  client.on('error', () => closeBoth(true));
  upstream.on('error', () => closeBoth(true));
  client.on('close', () => closeBoth(true));
  upstream.on('close', () => closeBoth(true));
});
server.on('error', (err) => {
  process.stderr.write(`delay-relay: ${err.message}\n`);
  process.exit(1);
});
server.listen(Number(listenPortText), listenHost, () => process.stdout.write('listening\n'));

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, a, b] = line.trim().split(/\s+/);
  if (cmd === 'delay') {
    delayMs = Math.max(0, Number(a) || 0);
    jitterMs = Math.max(0, Math.min(delayMs, Number(b) || 0));
    process.stdout.write('ok\n');
  }
});
// The runner went away: so do we.
process.stdin.on('end', () => process.exit(0));
