// Structured logs (pino): one JSON line per event, to stderr and to <storePathRootDir>/logs/broker.log.
import fs from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';

export interface Logger {
  debug(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
  /** Flushes the file destination (best effort, before exit). */
  flush(): void;
}

export function createLogger(opts: { nodeId: string; storeDir: string; level?: string; stderr?: boolean }): Logger {
  const dir = path.join(opts.storeDir, 'logs');
  fs.mkdirSync(dir, { recursive: true });
  const file = pino.destination({ dest: path.join(dir, 'broker.log'), sync: false, mkdir: true });
  const streams: pino.StreamEntry[] = [{ stream: file }];
  if (opts.stderr !== false) streams.push({ stream: pino.destination({ fd: 2, sync: true }) });
  const base = pino({ level: opts.level ?? 'info', base: { node: opts.nodeId, pid: process.pid } }, pino.multistream(streams));
  return {
    debug: (f, m) => base.debug(f, m),
    info: (f, m) => base.info(f, m),
    warn: (f, m) => base.warn(f, m),
    error: (f, m) => base.error(f, m),
    flush: () => {
      try {
        file.flushSync();
      } catch {
        // not yet open: nothing to flush
      }
    },
  };
}
