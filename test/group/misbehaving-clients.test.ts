// Multi-process: what a replica's client listener does with clients that do not follow the
// protocol (issue 27). One real `raftmq node` process on 127.0.0.1.
import net from 'node:net';
import t from 'tap';
import { Connection } from '../../src/net/index.ts';
import { LocalCluster } from '../helpers/launcher.ts';

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

function rawConnect(addr: string): Promise<net.Socket> {
  const [host, port] = addr.split(':');
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port: Number(port) });
    socket.on('error', () => {});
    socket.once('connect', () => resolve(socket));
    socket.once('close', () => reject(new Error('closed before connecting')));
  });
}

t.test('a well-formed request of an unknown type is answered BAD_REQUEST on a connection that stays open; garbage still closes it', async (t) => {
  const cluster = await LocalCluster.create({ nodes: 1 });
  t.teardown(() => cluster.destroy());
  const master = await cluster.waitForMaster();
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
