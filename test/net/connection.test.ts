import t from 'tap';
import net from 'node:net';
import { CONNECT_TIMEOUT_MS_DEFAULT, listen, type Server, type ServerConnection, Connection, type Frame } from '../../src/net/index.ts';
import { RaftmqError } from '../../src/protocol/index.ts';

const HOST = '127.0.0.1';

type Handler = (frame: Frame & Record<string, unknown>, conn: ServerConnection) => void;

async function server(handler: Handler, port = 0): Promise<Server> {
  return listen({ host: HOST, port }, (frame, conn) => handler(frame as Frame & Record<string, unknown>, conn));
}

const echo: Handler = (frame, conn) => {
  conn.send({ type: 'ok', id: frame.id, n: frame.n });
};

/** A port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, HOST, () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

t.test('many requests in flight are matched by id and coalesced into few writes', async (t) => {
  const srv = await server((frame, conn) => {
    // answer out of order
    setTimeout(() => conn.send({ type: 'ok', id: frame.id, n: frame.n }), Math.random() * 10);
  });
  t.teardown(() => srv.close());
  const conn = new Connection({ host: HOST, port: srv.port });
  t.teardown(() => conn.close());
  await conn.connect();
  const count = 2000;
  const results = await Promise.all(
    Array.from({ length: count }, (_, n) => conn.request<Frame & { n: number }>({ type: 'echo', n })),
  );
  t.same(
    results.map((r) => r.n),
    Array.from({ length: count }, (_, n) => n),
  );
  t.ok(conn.stats.writes <= 3, `2000 requests went out in ${conn.stats.writes} socket writes`);
});

t.test('an error response rejects with a typed error carrying the master hint', async (t) => {
  const srv = await server((frame, conn) =>
    conn.send({ type: 'error', id: frame.id, code: 'NOT_MASTER', message: 'go away', masterId: 'n1', masterAddr: '127.0.0.1:1' }),
  );
  t.teardown(() => srv.close());
  const conn = new Connection({ host: HOST, port: srv.port });
  t.teardown(() => conn.close());
  const err = await conn.request({ type: 'send' }).catch((e: unknown) => e);
  t.ok(err instanceof RaftmqError);
  t.match(err, { code: 'NOT_MASTER', masterId: 'n1', masterAddr: '127.0.0.1:1', message: 'go away' });
});

t.test('a request with no answer fails with TIMEOUT; its late answer is dropped', async (t) => {
  const held: Array<() => void> = [];
  const srv = await server((frame, conn) => held.push(() => conn.send({ type: 'ok', id: frame.id })));
  t.teardown(() => srv.close());
  const conn = new Connection({ host: HOST, port: srv.port });
  t.teardown(() => conn.close());
  const started = Date.now();
  await t.rejects(conn.request({ type: 'slow' }, { timeoutMs: 50 }), { code: 'TIMEOUT', message: /outcome unknown/ });
  t.ok(Date.now() - started < 5000, 'the timeout fires (a liveness guard, not a measurement)');
  for (const answer of held) answer();
  await conn.request({ type: 'x' }, { timeoutMs: 50 }).catch(() => {});
  while (conn.stats.lateResponses < 1) await new Promise((r) => setTimeout(r, 5));
  t.equal(conn.inFlightCount, 0);
});

t.test('pending requests fail with CONNECTION_LOST when the server closes', async (t) => {
  const srv = await server(() => {});
  const conn = new Connection({ host: HOST, port: srv.port });
  t.teardown(() => conn.close());
  await conn.connect();
  const pending = Array.from({ length: 10 }, () => conn.request({ type: 'x' }, { timeoutMs: 5000 }));
  await new Promise((r) => setTimeout(r, 20));
  await srv.close();
  for (const p of pending) await t.rejects(p, { code: 'CONNECTION_LOST' });
});

t.test('a lazy connection reconnects on next use after the server comes back', async (t) => {
  let srv = await server(echo);
  const port = srv.port;
  const conn = new Connection({ host: HOST, port });
  t.teardown(() => conn.close());
  t.match(await conn.request({ type: 'echo', n: 1 }), { n: 1 });
  await srv.close();
  await t.rejects(conn.request({ type: 'echo', n: 2 }), { code: 'CONNECTION_LOST' });
  srv = await server(echo, port);
  t.teardown(() => srv.close());
  t.match(await conn.request({ type: 'echo', n: 3 }), { n: 3 });
  t.equal(conn.stats.connects, 2);
});

t.test('an auto connection reconnects by itself with backoff and tells onUp/onDown', async (t) => {
  let srv = await server(echo);
  const port = srv.port;
  const events: string[] = [];
  let upResolve: () => void = () => {};
  const conn = new Connection({
    host: HOST,
    port,
    reconnect: 'auto',
    onUp: () => {
      events.push('up');
      upResolve();
    },
    onDown: () => events.push('down'),
  });
  t.teardown(() => conn.close());
  await new Promise<void>((r) => (upResolve = r));
  await srv.close();
  await new Promise((r) => setTimeout(r, 150)); // a few refused attempts
  const downs = events.filter((e) => e === 'down').length;
  t.ok(downs >= 2, `down on loss and on refused attempts (${downs})`);
  t.ok(downs < 10, 'attempts are spaced by backoff');
  const upAgain = new Promise<void>((r) => (upResolve = r));
  srv = await server(echo, port);
  t.teardown(() => srv.close());
  await upAgain;
  t.match(await conn.request({ type: 'echo', n: 7 }), { n: 7 });
});

t.test('onDown fires within tens of ms when the server destroys the socket', async (t) => {
  const srv = await server(echo);
  let downAt = 0;
  let reason = '';
  const conn = new Connection({
    host: HOST,
    port: srv.port,
    onDown: (r) => {
      downAt = Date.now();
      reason = r;
    },
  });
  t.teardown(() => conn.close());
  await conn.connect();
  const closedAt = Date.now();
  void srv.close();
  while (!downAt && Date.now() - closedAt < 1500) await new Promise((r) => setTimeout(r, 1));
  // Found by the socket's close, not a timer: the guard is far above it yet below any timeout.
  t.ok(downAt > 0 && downAt - closedAt < 1000, `onDown after ${downAt - closedAt} ms`);
  t.match(reason, /lost/);
});

t.test('onDown fires within tens of ms when connecting is refused', async (t) => {
  const port = await freePort();
  let downAt = 0;
  let reason = '';
  const conn = new Connection({
    host: HOST,
    port,
    onDown: (r) => {
      downAt = Date.now();
      reason = r;
    },
  });
  t.teardown(() => conn.close());
  const started = Date.now();
  t.equal(conn.send({ type: 'raft', id: 0 }), false, 'fire-and-forget while down is dropped');
  t.equal(conn.stats.framesDropped, 1);
  while (!downAt && Date.now() - started < 1500) await new Promise((r) => setTimeout(r, 1));
  t.ok(downAt > 0 && downAt - started < 1000, `onDown after ${downAt - started} ms (the refusal, not the connect timeout of ${CONNECT_TIMEOUT_MS_DEFAULT} ms)`);
  t.match(reason, /failed.*ECONNREFUSED/);
});

t.test('the in-flight limit queues the excess; the waiting limit fails fast with OVERLOADED', async (t) => {
  let outstanding = 0;
  let outstandingMax = 0;
  const srv = await server((frame, conn) => {
    outstanding++;
    outstandingMax = Math.max(outstandingMax, outstanding);
    setTimeout(() => {
      outstanding--;
      conn.send({ type: 'ok', id: frame.id });
    }, 2);
  });
  t.teardown(() => srv.close());
  const conn = new Connection({ host: HOST, port: srv.port, inFlightMax: 3, waitingMax: 20 });
  t.teardown(() => conn.close());
  await conn.connect();
  const ok = Array.from({ length: 23 }, () => conn.request({ type: 'x' })); // 3 on the wire + 20 waiting
  await t.rejects(conn.request({ type: 'x' }), { code: 'OVERLOADED' });
  await Promise.all(ok);
  t.ok(outstandingMax <= 3, `at most 3 on the wire (${outstandingMax})`);
});

t.test('peer style: hello goes first on every connection, id-0 frames reach onFrame', async (t) => {
  const seen: string[] = [];
  const srv = await server((frame, conn) => {
    seen.push(frame.type);
    if (frame.type === 'raft') conn.send({ type: 'raft', id: 0, msgs: frame.msgs });
  });
  t.teardown(() => srv.close());
  const got: unknown[] = [];
  let gotResolve: () => void = () => {};
  const conn = new Connection({
    host: HOST,
    port: srv.port,
    reconnect: 'auto',
    hello: () => ({ type: 'hello', id: 0, group: 'g', nodeId: 'n0' }),
    onFrame: (frame) => {
      got.push(frame);
      gotResolve();
    },
  });
  t.teardown(() => conn.close());
  await conn.connect();
  const gotOne = new Promise<void>((r) => (gotResolve = r));
  t.equal(conn.send({ type: 'raft', id: 0, msgs: [1, 2] }), true);
  await gotOne;
  t.same(seen, ['hello', 'raft']);
  t.match(got, [{ type: 'raft', id: 0, msgs: [1, 2] }]);
});

t.test('close() fails pending requests and later ones with CONNECTION_LOST', async (t) => {
  const srv = await server(() => {});
  t.teardown(() => srv.close());
  const conn = new Connection({ host: HOST, port: srv.port });
  await conn.connect();
  const pending = conn.request({ type: 'x' }).catch((e: unknown) => e);
  await conn.close();
  t.match(await pending, { code: 'CONNECTION_LOST' });
  await t.rejects(conn.request({ type: 'x' }), { code: 'CONNECTION_LOST' });
});

t.test('failFastWhileDown: a request made while the connection waits to reconnect fails at once, never sent; without it, it waits', async (t) => {
  const port = await freePort();
  let srv = await server(echo, port);
  const fast = new Connection({ host: HOST, port, failFastWhileDown: true, backoffMsMin: 2000, backoffMsMax: 4000 });
  const slow = new Connection({ host: HOST, port, backoffMsMin: 300, backoffMsMax: 600, requestTimeoutMs: 5000 });
  t.teardown(() => Promise.all([fast.close(), slow.close()]));
  await fast.connect();
  await slow.connect();
  await srv.close();
  for (let i = 0; i < 200 && (fast.state !== 'idle' || slow.state !== 'idle'); i++) await new Promise((r) => setTimeout(r, 5));
  const started = Date.now();
  const err = await fast.request({ type: 'echo', n: 1 }).catch((e: unknown) => e);
  t.match(err, { code: 'CONNECTION_LOST', requestSent: false }, 'refused at once, known never to have left');
  t.ok(Date.now() - started < 1000, 'without waiting for the 2 s backoff');
  srv = await server(echo, port);
  t.teardown(() => srv.close());
  const answer = await slow.request<Frame & { n: number }>({ type: 'echo', n: 2 });
  t.equal(answer.n, 2, 'without the option, the request waits for the reconnect and is answered');
});
