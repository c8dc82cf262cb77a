// A stand-in broker for bench:client: answers route and send requests at once, stores nothing.
// Listens on 127.0.0.1 (a free port, printed on stdout); its parent stops it by PID.
import { listen } from '../../src/net/index.ts';

let nextOffset = 0;
const server = await listen({ host: '127.0.0.1', port: 0 }, (frame, conn) => {
  const f = frame as { type: string; id: number; topic?: string; queueId?: number; messages?: unknown[] };
  const self = { nodeId: 'n0', addr: server.addr, role: 'MASTER' as const, brokerId: 0 };
  if (f.type === 'route') {
    conn.send({ type: 'route', id: f.id, topic: f.topic, queues: 4, master: self, replicas: [self] });
  } else if (f.type === 'send') {
    const count = Array.isArray(f.messages) ? f.messages.length : 0;
    conn.send({ type: 'sendResult', id: f.id, batch: { msgIdHead: `0A00000100000000${nextOffset.toString(16).toUpperCase().padStart(16, '0')}`, queueId: f.queueId, firstOffset: nextOffset, logIndex: nextOffset, count } });
    nextOffset += count;
  } else {
    conn.send({ type: 'error', id: f.id, code: 'BAD_REQUEST', message: `bench:client's echo broker answers route and send only, not ${f.type}` });
  }
});
process.stdout.write(`${server.port}\n`);
