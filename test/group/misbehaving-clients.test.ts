// Multi-process: what a replica's client listener does with clients that do not follow the
// protocol (issue 27). One real `raftmq node` process on 127.0.0.1.
import net from 'node:net';
import t from 'tap';
import { Connection, encodeFrame, FrameDecoder } from '../../src/net/index.ts';
import { LocalCluster } from '../../src/cli/index.ts';

/** Resolves when the server closes `socket`, or 'still open' after `waitMs`. */
function closedWithin(socket: net.Socket, waitMs: number): Promise<'closed' | 'still open'> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('still open'), waitMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
  });
}

function rawConnect(addr: string, localAddress = '127.0.0.1'): Promise<net.Socket> {
  const [host, port] = addr.split(':');
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port: Number(port), localAddress });
    socket.on('error', () => {});
    socket.once('connect', () => resolve(socket));
    socket.once('close', () => reject(new Error('closed before connecting')));
  });
}

/** Connects from `localAddress` and sends a status request: 'answered', or 'closed' unanswered
 *  (refused). The socket is left open when answered. */
async function statusFrom(addr: string, localAddress: string, sockets: net.Socket[]): Promise<'answered' | 'closed'> {
  const socket = await rawConnect(addr, localAddress);
  sockets.push(socket);
  const decoder = new FrameDecoder();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer and no close from ${localAddress} within 10 s`)), 10_000);
    socket.on('data', (chunk: Buffer) => {
      if (decoder.push(chunk).length > 0) {
        clearTimeout(timer);
        resolve('answered');
      }
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
    socket.write(encodeFrame({ type: 'status', id: 1 }));
  });
}

// One replica for both tests, with small client connection limits set in its broker.conf.
let cluster: LocalCluster;
let masterAddr = '';
t.before(async () => {
  cluster = await LocalCluster.create({
    nodes: 1,
    extra: { clientConnectionsMax: '5', clientConnectionsPerAddressMax: '2', clientFirstFrameTimeoutMs: '60000' },
  });
  masterAddr = (await cluster.waitForMaster()).addr;
});
t.teardown(() => cluster.destroy());

t.test('a well-formed request of an unknown type is answered BAD_REQUEST on a connection that stays open; garbage still closes it', async (t) => {
  const master = { addr: masterAddr };
  const [host, port] = master.addr.split(':');
  const conn = new Connection({ host, port: Number(port), reconnect: 'lazy', requestTimeoutMs: 5000 });
  t.teardown(() => conn.close());
  await t.rejects(conn.request({ type: 'fetchEverything' }), { code: 'BAD_REQUEST', message: 'unknown request type "fetchEverything"' }, 'answered BAD_REQUEST');
  await t.rejects(conn.request({ type: 'x'.repeat(10_000) }), { code: 'BAD_REQUEST', message: /^unknown request type "x{10,}$/ }, 'a long type is quoted clipped');
  t.match(await conn.request({ type: 'status' }), { type: 'status', status: { nodeId: 'n0' } }, 'the next request is served');
  t.same([conn.stats.connects, conn.stats.disconnects], [1, 0], 'on the same connection');

  const socket = await rawConnect(master.addr);
  socket.write(Buffer.from([0, 0, 0, 2, 0x93, 0x01])); // a length prefix, then bytes that are not msgpack of a frame
  t.equal(await closedWithin(socket, 5000), 'closed', 'bytes that are not a frame close the connection');
});

t.test('broker.conf sets the client listener\'s limits: the first-frame timeout, per address, in all', async (t) => {
  const sockets: net.Socket[] = [];
  t.teardown(() => sockets.forEach((s) => s.destroy()));
  const silent = await rawConnect(masterAddr, '127.0.0.6');
  sockets.push(silent);
  t.equal(await closedWithin(silent, 4000), 'still open', 'clientFirstFrameTimeoutMs=60000: a silent connection outlives the default timeout');
  t.same([await statusFrom(masterAddr, '127.0.0.2', sockets), await statusFrom(masterAddr, '127.0.0.2', sockets)], ['answered', 'answered']);
  t.equal(await statusFrom(masterAddr, '127.0.0.2', sockets), 'closed', 'clientConnectionsPerAddressMax=2: the third from one address is refused');
  const silentClosed = closedWithin(silent, 10_000);
  for (const from of ['127.0.0.3', '127.0.0.3', '127.0.0.4']) t.equal(await statusFrom(masterAddr, from, sockets), 'answered', from);
  t.equal(await silentClosed, 'closed', 'clientConnectionsMax=5: the fifth established connection took the silent one\'s slot');
  t.equal(await statusFrom(masterAddr, '127.0.0.5', sockets), 'closed', 'clientConnectionsMax=5: with five established, a sixth connection is refused');
});
