// The delay relay (random-delay without netem) must delay, and must never reorder or lose bytes:
// a reordered stream is a corrupted one to the replica behind it.
import { spawn } from 'node:child_process';
import net from 'node:net';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { freeLocalPorts, delay, withTimeout } from '../../src/net/index.ts';
import { Prng } from '../../src/raft/index.ts';

const RELAY = fileURLToPath(new URL('../../src/chaos/delay-relay.ts', import.meta.url));

async function listenOn(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

t.test('relay keeps byte order through delay switches and delays while on', async (t) => {
  // Target: an echo server, so both directions go through the relay.
  const echo = net.createServer((s) => {
    s.on('error', () => {}); // reset when the relay is killed at the end
    s.pipe(s);
  });
  const targetPort = await listenOn(echo);
  t.teardown(() => echo.close());
  const relayPort = (await freeLocalPorts(1))[0]!;
  const relay = spawn(process.execPath, ['--import', 'tsx', RELAY, '127.0.0.1', String(relayPort), '127.0.0.1', String(targetPort), '5'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.teardown(() => relay.kill('SIGKILL'));
  const lines = readline.createInterface({ input: relay.stdout! });
  // Bounded, so a relay that died or never answers fails here with a name instead of at tap's timeout.
  const waitLine = (want: string) =>
    withTimeout(
      new Promise<void>((resolve) => {
        const on = (l: string) => {
          if (l.trim() === want) {
            lines.off('line', on);
            resolve();
          }
        };
        lines.on('line', on);
      }),
      10_000,
      `relay line "${want}"`,
    );
  await waitLine('listening');
  const setDelay = async (ms: number, jitter: number) => {
    const ok = waitLine('ok');
    relay.stdin!.write(`delay ${ms} ${jitter}\n`);
    await ok;
  };

  const client = net.connect(relayPort, '127.0.0.1');
  client.on('error', () => {});
  client.setNoDelay(true);
  await new Promise((r) => client.once('connect', r));
  const received: Buffer[] = [];
  let receivedBytes = 0;
  client.on('data', (b: Buffer) => {
    received.push(b);
    receivedBytes += b.length;
  });

  // Round trip with delay on takes at least 2 x (delay - jitter).
  await setDelay(40, 10);
  const t0 = Date.now();
  client.write(Buffer.from([0xff]));
  while (receivedBytes < 1) await delay(2);
  t.ok(Date.now() - t0 >= 55, `round trip through the delayed relay took ${Date.now() - t0} ms`);

  // Many small writes with the delay switched on and off meanwhile: the bytes come back in order.
  const prng = new Prng(3);
  const sent: Buffer[] = [Buffer.from([0xff])];
  let counter = 0;
  for (let round = 0; round < 40; round++) {
    if (round % 5 === 0) await setDelay(round % 10 === 0 ? 0 : 30, round % 10 === 0 ? 0 : 25);
    const chunk = Buffer.alloc(1 + prng.intBelow(2000));
    for (let i = 0; i < chunk.length; i++) chunk[i] = counter++ & 0xff;
    sent.push(chunk);
    client.write(chunk);
    await delay(prng.intBelow(4));
  }
  const total = Buffer.concat(sent);
  const deadline = Date.now() + 10_000;
  while (receivedBytes < total.length && Date.now() < deadline) await delay(10);
  t.equal(receivedBytes, total.length, 'every byte came back');
  t.ok(Buffer.concat(received).equals(total), 'in the order it was sent');
  client.destroy();
});
