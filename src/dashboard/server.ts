// The dashboard's web server (fastify): the page and its assets (uPlot from the package itself,
// no CDN), the overview as JSON and as server-sent events, message lookups, and the operator's
// actions (leadership transfer, topic creation), which the page puts behind a confirmation.
// Actions are POSTs with a JSON body, which a page of another origin cannot send without the
// browser asking first (CORS), and the server listens on 127.0.0.1 unless told otherwise.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { QUERY_MESSAGE_COUNT_MAX, type StoredMessage } from '../protocol/index.ts';
import type { ClusterWatcher } from './watcher.ts';

/** Characters of a message body a lookup returns. */
const BODY_CHARS_MAX = 4096;
/** Comment lines that keep an idle event stream open through proxies. */
const SSE_KEEPALIVE_MS = 15_000;

const require = createRequire(import.meta.url);
const PUBLIC_DIR = new URL('./public/', import.meta.url);

interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

function loadAssets(): Map<string, Asset> {
  const file = (url: URL | string): Buffer => fs.readFileSync(url);
  return new Map<string, Asset>([
    ['/', { type: 'text/html; charset=utf-8', body: file(new URL('index.html', PUBLIC_DIR)) }],
    ['/assets/app.js', { type: 'text/javascript; charset=utf-8', body: file(new URL('app.js', PUBLIC_DIR)) }],
    ['/assets/app.css', { type: 'text/css; charset=utf-8', body: file(new URL('app.css', PUBLIC_DIR)) }],
    ['/assets/uPlot.iife.min.js', { type: 'text/javascript; charset=utf-8', body: file(require.resolve('uplot/dist/uPlot.iife.min.js')) }],
    ['/assets/uPlot.min.css', { type: 'text/css; charset=utf-8', body: file(require.resolve('uplot/dist/uPlot.min.css')) }],
  ]);
}

export interface DashboardServer {
  /** http://host:port/ */
  readonly url: string;
  close(): Promise<void>;
}

export interface DashboardServerOptions {
  readonly watcher: ClusterWatcher;
  readonly host: string;
  /** 0: any free port. */
  readonly port: number;
}

/** A message as the page shows it: the body as text, cut. */
function messageView(m: StoredMessage): object {
  const body = Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength).toString('utf8');
  return {
    msgId: m.msgId,
    topic: m.topic,
    queueId: m.queueId,
    queueOffset: m.queueOffset,
    keys: m.keys,
    tags: m.tags,
    storeTimestamp: m.storeTimestamp,
    bodyBytes: m.body.byteLength,
    body: body.length > BODY_CHARS_MAX ? `${body.slice(0, BODY_CHARS_MAX)}...` : body,
  };
}

function failed(reply: FastifyReply, status: number, err: unknown): FastifyReply {
  const e = err as Error & { code?: string };
  return reply.code(status).send({ error: `${e.code ? `${e.code}: ` : ''}${e.message}` });
}

function routes(app: FastifyInstance, watcher: ClusterWatcher): void {
  const assets = loadAssets();
  for (const [path, asset] of assets) app.get(path, (_req, reply) => reply.type(asset.type).header('cache-control', 'no-cache').send(asset.body));
  app.get('/favicon.ico', (_req, reply) => reply.code(204).send());
  app.get('/api/overview', () => watcher.overview());
  app.get('/api/events', (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    const send = (o: unknown): void => void res.write(`data: ${JSON.stringify(o)}\n\n`);
    const unsubscribe = watcher.onUpdate(send);
    if (unsubscribe === null) {
      res.end('retry: 5000\n\n');
      return;
    }
    send(watcher.overview());
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), SSE_KEEPALIVE_MS);
    req.raw.on('close', () => {
      clearInterval(keepalive);
      unsubscribe();
    });
  });
  app.get<{ Querystring: { msgId?: string; topic?: string; key?: string } }>('/api/messages', async (req, reply) => {
    const { msgId, topic, key } = req.query;
    try {
      if (msgId) {
        const m = await watcher.admin.viewMessage(msgId.trim());
        return { messages: m === null ? [] : [messageView(m)] };
      }
      if (topic && key) return { messages: (await watcher.admin.queryMessage(topic.trim(), key.trim(), QUERY_MESSAGE_COUNT_MAX)).map(messageView) };
      return failed(reply, 400, new Error('give msgId, or topic and key'));
    } catch (err) {
      return failed(reply, 502, err);
    }
  });
  app.post<{ Body: { to?: unknown } }>('/api/transfer-leader', async (req, reply) => {
    const to = req.body?.to;
    if (typeof to !== 'string' || to === '') return failed(reply, 400, new Error('give "to": a node id'));
    try {
      await watcher.admin.transferLeader(to);
      return { ok: true };
    } catch (err) {
      return failed(reply, 502, err);
    }
  });
  app.post<{ Body: { topic?: unknown; queues?: unknown } }>('/api/topics', async (req, reply) => {
    const { topic, queues } = req.body ?? {};
    if (typeof topic !== 'string' || typeof queues !== 'number') return failed(reply, 400, new Error('give "topic" (a name) and "queues" (a number)'));
    try {
      await watcher.admin.createTopic(topic, queues);
      return { ok: true };
    } catch (err) {
      return failed(reply, 502, err);
    }
  });
}

/** Starts the web server; the watcher must be started by the caller (it may serve others too). */
export async function serveDashboard(opts: DashboardServerOptions): Promise<DashboardServer> {
  const app = Fastify({ logger: false });
  routes(app, opts.watcher);
  await app.listen({ host: opts.host, port: opts.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : opts.port;
  return {
    url: `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}/`,
    close: async () => {
      app.server.closeAllConnections();
      await app.close();
    },
  };
}
