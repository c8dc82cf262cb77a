import t from 'tap';
import type { Test } from 'tap';
import fc from 'fast-check';
import net from 'node:net';
import { listen, type Server } from '../../src/net/server.ts';
import { Connection } from '../../src/net/connection.ts';
import { encodeFrame } from '../../src/net/frame-codec.ts';

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
  t.match(logs.at(-1), { msg: 'connection refused', fields: { reason: /limit/ } });
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
