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

/** Opens the log file before returning: throws (ENOENT, EACCES, ...) if it cannot be opened. */
export function createLogger(opts: { nodeId: string; storeDir: string; level?: string; stderr?: boolean }): Logger {
  const dir = path.join(opts.storeDir, 'logs');
  fs.mkdirSync(dir, { recursive: true });
  // Opened here, not by sonic-boom in the background: pino flushes the file at process exit, and
  // that flush throws (out of process.exit) while an asynchronous open is still pending.
  const fd = fs.openSync(path.join(dir, 'broker.log'), 'a');
  const file = pino.destination({ fd, sync: false });
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
        // already destroyed: nothing left to flush
      }
    },
  };
}
