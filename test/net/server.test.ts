import t from 'tap';
import type { Test } from 'tap';
import fc from 'fast-check';
import net from 'node:net';
import { listen, type Server, Connection, encodeFrame, FrameDecoder } from '../../src/net/index.ts';

interface LogLine {
  level: string;
  msg: string;
  fields?: Record<string, unknown>;
}

async function echoServer(extra: Partial<Parameters<typeof listen>[0]> = {}): Promise<{ server: Server; logs: LogLine[] }> {
  const logs: LogLine[] = [];
  const server = await listen(
    {
      host: '127.0.0.1',
      port: 0,
      frameBytesMax: 64 * 1024,
      frameTypes: new Set(['echo', 'boom', 'asyncBoom']),
      log: (level, msg, fields) => logs.push({ level, msg, ...(fields ? { fields } : {}) }),
      ...extra,
    },
    (frame, conn) => {
      if (frame.type === 'boom') throw new Error('handler bug');
      if (frame.type === 'asyncBoom') return Promise.reject(new Error('async handler bug'));
      conn.send({ type: 'ok', id: frame.id, echo: frame });
    },
  );
  return { server, logs };
}

/** Writes `bytes` on a raw socket; resolves how the socket ended: 'closed-by-server' or 'ended-by-us'. */
function sendRaw(port: number, bytes: Buffer, lingerMs: number): Promise<'closed-by-server' | 'ended-by-us'> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let ended = false;
    socket.on('error', () => {});
    socket.on('data', () => {});
    socket.on('connect', () => {
      socket.write(bytes);
      setTimeout(() => {
        ended = true;
        socket.end();
      }, lingerMs);
    });
    socket.on('close', () => resolve(ended ? 'ended-by-us' : 'closed-by-server'));
  });
}

async function assertServes(t: Test, server: Server): Promise<void> {
  const conn = new Connection({ host: '127.0.0.1', port: server.port, requestTimeoutMs: 1000 });
  try {
    const resp = await conn.request<{ type: string; id: number; echo: { n: number } }>({ type: 'echo', n: 42 });
    t.equal(resp.echo.n, 42, 'a fresh good connection is served');
  } finally {
    await conn.close();
  }
}


t.test('a frame with an oversized length closes that connection with a logged reason', async (t) => {
  const { server, logs } = await echoServer();
  t.teardown(() => server.close());
  const header = Buffer.alloc(4);
  header.writeUInt32BE(64 * 1024 + 1);
  t.equal(await sendRaw(server.port, header, 2000), 'closed-by-server');
  t.match(logs.at(-1), { level: 'warn', msg: 'closing connection', fields: { reason: /oversized/ } });
  await assertServes(t, server);
});

t.test('malformed and unknown frames and failing handlers close the connection with a reason', async (t) => {
  const { server, logs } = await echoServer();
  t.teardown(() => server.close());
  const cases: Array<[Buffer, RegExp]> = [
    [Buffer.from([0, 0, 0, 1, 0xc1]), /malformed/],
    [Buffer.from([0, 0, 0, 2, 0x93, 0x01]), /malformed/],
    [encodeFrame({ type: 'nope', id: 1 }), /unknown-type/],
    [encodeFrame({ type: 'echo', id: 'x' }), /malformed/],
    [encodeFrame({ type: 'boom', id: 1 }), /handler failed/],
    [encodeFrame({ type: 'asyncBoom', id: 1 }), /handler failed/],
  ];
  for (const [bytes, reason] of cases) {
    t.equal(await sendRaw(server.port, bytes, 2000), 'closed-by-server', reason.source);
    t.match(logs.at(-1)?.fields?.reason, reason);
  }
  await assertServes(t, server);
  while (server.connections.size > 0) await new Promise((r) => setTimeout(r, 5));
  t.pass('every connection is gone');
});

t.test('fuzz: arbitrary garbage never crashes the server, which keeps serving fresh connections', async (t) => {
  const { server } = await echoServer();
  t.teardown(() => server.close());
  const validFrame = fc
    .record({ type: fc.constantFrom('echo', 'x'), id: fc.nat(), body: fc.uint8Array({ maxLength: 64 }) })
    .map((f) => encodeFrame(f));
  const garbage = fc.oneof(
    fc.uint8Array({ maxLength: 256 }).map((u) => Buffer.from(u)), // raw garbage
    validFrame.chain((f) => fc.nat(f.length).map((n) => f.subarray(0, n))), // truncated frame
    fc.integer({ min: 64 * 1024 + 1, max: 0xffffffff }).map((n) => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(n);
      return b; // huge length
    }),
    fc.uint8Array({ minLength: 1, maxLength: 200 }).map((u) => {
      const b = Buffer.alloc(4 + u.length);
      b.writeUInt32BE(u.length);
      Buffer.from(u).copy(b, 4);
      return b; // valid length, garbage body
    }),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(garbage, { minLength: 1, maxLength: 4 }), async (pieces) => {
      await sendRaw(server.port, Buffer.concat(pieces), 20);
    }),
    { numRuns: 60 },
  );
  await assertServes(t, server);
});

t.test('connections over the limit are refused; the rest are served', async (t) => {
  const { server, logs } = await echoServer({ connectionsMax: 1 });
  t.teardown(() => server.close());
  const first = new Connection({ host: '127.0.0.1', port: server.port });
  t.teardown(() => first.close());
  await first.request({ type: 'echo' });
  let downReason = '';
  const second = new Connection({ host: '127.0.0.1', port: server.port, onDown: (r) => (downReason = r) });
  t.teardown(() => second.close());
  await t.rejects(second.request({ type: 'echo' }), { code: 'CONNECTION_LOST' });
  t.match(downReason, /lost|failed/);
  t.match(logs.at(-1), { msg: 'connections refused or dropped', fields: { event: 'connectionLimit', reason: /limit 1 reached/ } });
  await first.request({ type: 'echo' });
});

t.test('a connection that does not read its responses is closed as a slow consumer', async (t) => {
  const big = Buffer.alloc(32 * 1024, 1);
  const logs: string[] = [];
  const server = await listen(
    {
      host: '127.0.0.1',
      port: 0,
      connPendingBytesMax: 1024 * 1024,
      connPendingBytesHigh: 256 * 1024,
      log: (_level, _msg, fields) => logs.push(String(fields?.reason)),
    },
    (frame, conn) => {
      for (let i = 0; i < 8; i++) conn.send({ type: 'ok', id: frame.id, big });
    },
  );
  t.teardown(() => server.close());
  const socket = net.connect({ host: '127.0.0.1', port: server.port });
  socket.on('error', () => {});
  socket.pause(); // never reads
  await new Promise<void>((resolve) => socket.on('connect', () => resolve()));
  socket.write(Buffer.concat(Array.from({ length: 200 }, (_, i) => encodeFrame({ type: 'echo', id: i + 1 }))));
  while (!/slow consumer/.test(logs.join())) await new Promise((r) => setTimeout(r, 5));
  t.pass('closed as a slow consumer');
  socket.destroy();
  const conn = new Connection({ host: '127.0.0.1', port: server.port });
  t.teardown(() => conn.close());
  t.match(await conn.request({ type: 'echo' }), { type: 'ok' }, 'still serves others');
});

// ---- admission: first-frame timeout, stalled frames, per-address limit, eviction, summaries ----

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` until it holds; fails after `timeoutMs` (a liveness guard, not a bound). */
async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(5);
  }
}

interface RawClient {
  readonly socket: net.Socket;
  /** Milliseconds from connect to the server's close. */
  readonly closedAfterMs: Promise<number>;
  closed: boolean;
  /** Frames received, decoded. */
  readonly frames: { type: string; id: number }[];
}

/** Every raw client's socket, destroyed after each test whatever its outcome. */
const rawSockets = new Set<net.Socket>();
t.afterEach(() => {
  for (const s of rawSockets) s.destroy();
  rawSockets.clear();
});

/** A raw socket (from `localAddress`) that decodes what it receives and notes when it closes. */
function rawClient(port: number, localAddress = '127.0.0.1'): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress });
    rawSockets.add(socket);
    const decoder = new FrameDecoder();
    const frames: { type: string; id: number }[] = [];
    let connectedAt = 0;
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => frames.push(...decoder.push(chunk)));
    const client = {
      socket,
      frames,
      closed: false,
      closedAfterMs: new Promise<number>((r) =>
        socket.once('close', () => {
          client.closed = true;
          r(Date.now() - connectedAt);
        }),
      ),
    };
    socket.once('connect', () => {
      connectedAt = Date.now();
      resolve(client);
    });
    socket.once('close', () => reject(new Error('closed before connecting')));
  });
}

/** Resolves the milliseconds from connect to the server's close of `c`; rejects after
 *  `timeoutMs` (a liveness guard, so that a server that never closes fails the test quickly). */
function closed(c: RawClient, timeoutMs = 10_000): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the server did not close the connection within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([c.closedAfterMs, guard]).finally(() => clearTimeout(timer));
}

/** A raw client that has delivered a frame and got its answer: an established connection. */
async function establishedClient(port: number, localAddress = '127.0.0.1'): Promise<RawClient> {
  const c = await rawClient(port, localAddress);
  c.socket.write(encodeFrame({ type: 'echo', id: 1 }));
  await waitFor(() => c.frames.length === 1 || c.closed, 'the echo');
  return c;
}

t.test('a connection that delivers no complete frame within firstFrameTimeoutMs is closed, no sooner; an established one stays', async (t) => {
  const { server, logs } = await echoServer({ firstFrameTimeoutMs: 300, warningIntervalMs: 60_000 });
  t.teardown(() => server.close());
  const silent = await rawClient(server.port);
  const half = await rawClient(server.port);
  half.socket.write(encodeFrame({ type: 'echo', id: 1 }).subarray(0, 6)); // the header and 2 bytes of the body
  const good = new Connection({ host: '127.0.0.1', port: server.port });
  t.teardown(() => good.close());
  await good.request({ type: 'echo' });
  t.ok((await closed(silent)) >= 300, 'a silent connection is closed, not before the timeout');
  t.ok((await closed(half)) >= 300, 'so is one that left half a frame');
  await sleep(600);
  await good.request({ type: 'echo' });
  t.same([good.stats.connects, good.stats.disconnects], [1, 0], 'the established connection was kept');
  t.equal(server.connections.size, 1);
  t.match(logs, [{ level: 'warn', msg: 'connections refused or dropped', fields: { event: 'firstFrameTimeout', reason: /no complete frame within 300 ms/ } }]);
  t.equal(logs.length, 1, 'the second close is counted, not logged on its own line');
  await server.close();
  t.match(logs[1], { msg: 'connections refused or dropped', fields: { summary: true, events: 1, byKind: { firstFrameTimeout: 1 } } }, 'closing the server logs what was counted');
});

t.test('a frame begun on an established connection and stalled is closed after the timeout; one that keeps coming, slowly, is served', async (t) => {
  const { server, logs } = await echoServer({ firstFrameTimeoutMs: 300 });
  t.teardown(() => server.close());
  const stalled = await establishedClient(server.port);
  stalled.socket.write(encodeFrame({ type: 'echo', id: 2 }).subarray(0, 5));
  const writtenAt = Date.now();
  await closed(stalled);
  t.ok(Date.now() - writtenAt >= 300, 'closed, not before the timeout');
  t.match(logs.at(-1), { fields: { event: 'frameStalled' } });

  const slow = await establishedClient(server.port);
  const frame = encodeFrame({ type: 'echo', id: 3, pad: 'x'.repeat(16) });
  for (let i = 0; i < frame.length; i += 3) {
    slow.socket.write(frame.subarray(i, i + 3));
    await sleep(100); // in all, several times the timeout
  }
  await waitFor(() => slow.frames.length === 2 || slow.closed, 'the slow frame\'s echo');
  t.match(slow.frames[1], { type: 'ok', id: 3 }, 'a frame that keeps receiving bytes is not cut');
  t.notOk(slow.closed);
  slow.socket.destroy();

  const trickled = await rawClient(server.port);
  for (let i = 0; i < frame.length && !trickled.closed; i += 3) {
    trickled.socket.write(frame.subarray(i, i + 3));
    await sleep(100);
  }
  await closed(trickled);
  t.equal(trickled.frames.length, 0, 'but a first frame must be complete within the timeout, however it trickles');
});

t.test('reading paused by backpressure does not count as a stalled frame', async (t) => {
  const big = Buffer.alloc(64 * 1024, 7);
  const server = await listen({ host: '127.0.0.1', port: 0, connPendingBytesHigh: 64 * 1024, firstFrameTimeoutMs: 200 }, (frame, conn) => {
    conn.send({ type: 'ok', id: frame.id, big });
  });
  t.teardown(() => server.close());
  const client = await rawClient(server.port);
  client.socket.pause(); // reads nothing: the server's writes back up until it stops reading us
  const frames = Buffer.concat(Array.from({ length: 600 }, (_, i) => encodeFrame({ type: 'echo', id: i + 1 })));
  const last = encodeFrame({ type: 'echo', id: 601 });
  client.socket.write(Buffer.concat([frames, last.subarray(0, 5)]));
  await waitFor(() => [...server.connections].some((c) => c.readPaused), 'the server pauses reading');
  await sleep(1000);
  t.notOk(client.closed, 'a connection the server stopped reading is not closed as stalled');
  client.socket.write(last.subarray(5));
  client.socket.resume();
  await waitFor(() => client.frames.length === 601 || client.closed, 'every answer');
  t.equal(client.frames.length, 601, 'every request answered, the last one too');
});

t.test('one address holds at most connectionsPerAddressMax connections; a newcomer evicts its oldest silent one, never an established one', async (t) => {
  const { server } = await echoServer({ connectionsPerAddressMax: 3, connectionsMax: 100, firstFrameTimeoutMs: 60_000 });
  t.teardown(() => server.close());
  // 127.0.0.2 fills its quota with established connections: its next one is refused...
  const others = await Promise.all([1, 2, 3].map(() => establishedClient(server.port, '127.0.0.2')));
  const refused = await rawClient(server.port, '127.0.0.2');
  await closed(refused);
  t.same(server.connectionsFrom('127.0.0.2'), { count: 3, awaitingFirstFrame: 0 }, 'an address full of established connections refuses newcomers');
  // ...and that does not touch another address.
  const client = new Connection({ host: '127.0.0.1', port: server.port });
  t.teardown(() => client.close());
  await client.request({ type: 'echo' });

  // 127.0.0.1: one established client and two silent connections fill its quota.
  const silent = [await rawClient(server.port), await rawClient(server.port)];
  await waitFor(() => server.connectionsFrom('127.0.0.1').count === 3, 'three connections from 127.0.0.1');
  const newcomer = new Connection({ host: '127.0.0.1', port: server.port });
  t.teardown(() => newcomer.close());
  await newcomer.request({ type: 'echo' });
  await closed(silent[0]);
  t.notOk(silent[1].closed, 'the oldest silent connection was evicted, only it');
  const second = new Connection({ host: '127.0.0.1', port: server.port });
  t.teardown(() => second.close());
  await second.request({ type: 'echo' });
  await closed(silent[1]);
  t.same(server.connectionsFrom('127.0.0.1'), { count: 3, awaitingFirstFrame: 0 });
  const third = new Connection({ host: '127.0.0.1', port: server.port });
  t.teardown(() => third.close());
  await t.rejects(third.request({ type: 'echo' }), { code: 'CONNECTION_LOST' }, 'with every connection established, the newcomer is refused');
  for (const c of [client, newcomer, second]) t.same([c.stats.connects, c.stats.disconnects], [1, 0], 'established connections were never evicted');
  t.notOk(others.some((o) => o.closed));
  for (const o of others) o.socket.destroy();
});

t.test('at the total limit a newcomer evicts the oldest silent connection of any address', async (t) => {
  const { server } = await echoServer({ connectionsMax: 3, firstFrameTimeoutMs: 60_000 });
  t.teardown(() => server.close());
  const silent = [await rawClient(server.port, '127.0.0.2'), await rawClient(server.port, '127.0.0.3'), await rawClient(server.port, '127.0.0.2')];
  await waitFor(() => server.connections.size === 3, 'three connections');
  const client = new Connection({ host: '127.0.0.1', port: server.port });
  t.teardown(() => client.close());
  await client.request({ type: 'echo' });
  await closed(silent[0]);
  t.same(silent.map((s) => s.closed), [true, false, false], 'the oldest one went');
});

t.test('refusals are one log line, then one summary line per interval with counts', async (t) => {
  const { server, logs } = await echoServer({ connectionsMax: 1, warningIntervalMs: 60_000 });
  t.teardown(() => server.close());
  const first = new Connection({ host: '127.0.0.1', port: server.port });
  t.teardown(() => first.close());
  await first.request({ type: 'echo' });
  const refused = await Promise.all(Array.from({ length: 50 }, (_, i) => rawClient(server.port, `127.0.0.${2 + (i % 7)}`)));
  await Promise.all(refused.map((r) => closed(r)));
  t.equal(logs.length, 1, '50 refusals, one line');
  t.match(logs[0], { level: 'warn', fields: { event: 'connectionLimit', reason: 'connection limit 1 reached, all established' } });
  await server.close();
  t.equal(logs.length, 2);
  t.match(logs[1], { level: 'warn', fields: { summary: true, events: 49, byKind: { connectionLimit: 49 }, addressCount: 7 } });
  t.equal(Object.keys(logs[1].fields?.busiestAddresses as object).length, 5, 'the busiest addresses are named, a bounded few');
});
