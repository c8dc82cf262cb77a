// Structured logs (pino): one JSON line per event, to stderr and to size-bounded files under
// <storePathRootDir>/logs: broker.<N>.log (N rising, rotated by pino-roll), at most
// logFileMaxCount of them, and broker.log, a symbolic link to the one being written.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pino } from 'pino';
import { LOG_FILE_MAX_COUNT_DEFAULT, LOG_FILE_MAX_SIZE_DEFAULT } from './config.ts';

export interface Logger {
  debug(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
  /** Writes out anything still buffered for the file and fsyncs it (best effort, before exit). */
  flush(): void;
  /** Flushes and closes the file (tests; a broker process just exits). Log nothing after it. */
  close(): Promise<void>;
}

export interface LoggerOptions {
  nodeId: string;
  storeDir: string;
  level?: string;
  stderr?: boolean;
  /** MiB a file grows to before the next one is started (broker.conf logFileMaxSize). */
  logFileMaxSize?: number;
  /** Files kept, the one being written included (broker.conf logFileMaxCount). */
  logFileMaxCount?: number;
  /** Tests only: bytes per file, in place of logFileMaxSize. */
  maxFileBytes?: number;
}

/** The part of pino-roll's stream (a SonicBoom) used here. */
interface RollStream extends NodeJS.EventEmitter {
  readonly file: string;
  write(data: string): boolean;
  flushSync(): void;
  end(): void;
}

type BuildRoll = (opts: {
  file: string;
  size: number;
  limit: { count: number; removeOtherLogFiles: boolean };
  sync: boolean;
}) => Promise<RollStream>;

const buildRoll = createRequire(import.meta.url)('pino-roll') as BuildRoll;

/** The name operators tail: a link to the file being written. */
export const LOG_LINK_NAME = 'broker.log';

/**
 * Opens the current log file before returning: rejects (ENOENT, EACCES, ...) if the directory
 * cannot be created or the file opened.
 *
 * The file is written synchronously, in this thread (pino-roll used as a stream, not as a
 * transport in a worker): a line is in the file when the log call returns, so nothing is left to
 * lose at process.exit, and pino-roll creates the next file before it counts the files to keep,
 * which makes logFileMaxCount exact.
 */
export async function createLogger(opts: LoggerOptions): Promise<Logger> {
  const dir = path.resolve(opts.storeDir, 'logs');
  fs.mkdirSync(dir, { recursive: true });
  keepLegacyLog(dir);
  const maxBytes = opts.maxFileBytes ?? (opts.logFileMaxSize ?? LOG_FILE_MAX_SIZE_DEFAULT) * 1024 ** 2;
  const file = await buildRoll({
    file: path.join(dir, LOG_LINK_NAME), // pino-roll inserts the number: broker.<N>.log
    size: maxBytes / 1024 ** 2, // pino-roll reads a number as MiB
    // With removeOtherLogFiles, pino-roll counts every broker.<N>.log in the directory (those of
    // earlier runs too), the new current file included.
    limit: { count: opts.logFileMaxCount ?? LOG_FILE_MAX_COUNT_DEFAULT, removeOtherLogFiles: true },
    sync: true,
  });
  try {
    pointLink(dir, file.file);
  } catch (err) {
    file.end();
    throw err;
  }
  followRotations(dir, file);
  // Each stream at the logger's level: a multistream entry without one takes 'info' and would
  // drop debug lines.
  const level = (opts.level ?? 'info') as pino.Level;
  const streams: pino.StreamEntry[] = [{ level, stream: file }];
  if (opts.stderr !== false) streams.push({ level, stream: pino.destination({ fd: 2, sync: true }) });
  const base = pino({ level, base: { node: opts.nodeId, pid: process.pid } }, pino.multistream(streams));
  return wrap(base, file);
}

/** Keeps broker.log pointing at the file being written, and reports the file's errors. */
function followRotations(dir: string, file: RollStream): void {
  const report = errorReporter();
  file.on('error', (err: Error) => report(err));
  // 'ready' follows every open: the first, and each rotation to a new file.
  file.on('ready', () => {
    try {
      pointLink(dir, file.file);
    } catch (err) {
      report(err as Error);
    }
  });
}

function wrap(base: pino.Logger, file: RollStream): Logger {
  let closed = false;
  const flush = (): void => {
    if (closed) return;
    try {
      file.flushSync();
    } catch {
      // already destroyed: nothing left to flush
    }
  };
  return {
    debug: (f, m) => base.debug(f, m),
    info: (f, m) => base.info(f, m),
    warn: (f, m) => base.warn(f, m),
    error: (f, m) => base.error(f, m),
    flush,
    close: async () => {
      if (closed) return;
      flush();
      closed = true;
      await new Promise<void>((resolve) => {
        file.once('close', resolve);
        file.end();
      });
    },
  };
}

/** broker.log of a version that wrote one growing file becomes broker.0.log, the oldest file of
 *  the rotation (deleted first), so that the name is free for the link. */
function keepLegacyLog(dir: string): void {
  const legacy = path.join(dir, LOG_LINK_NAME);
  const stat = fs.lstatSync(legacy, { throwIfNoEntry: false });
  if (stat === undefined || stat.isSymbolicLink()) return;
  const renamed = path.join(dir, 'broker.0.log');
  if (fs.existsSync(renamed)) throw new Error(`${legacy} is not a link and ${renamed} exists; move one of them away`);
  fs.renameSync(legacy, renamed);
}

/** Points logs/broker.log at `file` (a relative link), replacing the old link in one rename. */
function pointLink(dir: string, file: string): void {
  const link = path.join(dir, LOG_LINK_NAME);
  const target = path.basename(file);
  if (fs.lstatSync(link, { throwIfNoEntry: false })?.isSymbolicLink() && fs.readlinkSync(link) === target) return;
  const tmp = path.join(dir, `.${LOG_LINK_NAME}.tmp`);
  fs.rmSync(tmp, { force: true });
  fs.symlinkSync(target, tmp);
  fs.renameSync(tmp, link);
}

/** Errors of the file (a failed write, rotation or cleanup) go to stderr, each new one once: the
 *  broker keeps running, and its lines keep reaching stderr. */
function errorReporter(): (err: Error) => void {
  let last = '';
  return (err) => {
    if (err.message === last) return;
    last = err.message;
    try {
      fs.writeSync(2, `raftmq: log file: ${err.message}\n`);
    } catch {
      // stderr closed: nowhere left to say it
    }
  };
}

const LOG_FILE_RE = /^broker\.(\d+)\.log$/;

/** The lines of the log files in `dir` (a replica's logs/), oldest file first: for tools that
 *  count events across restarts. A file rotation removes meanwhile is skipped. */
export function* logLinesIn(dir: string): Generator<string> {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => LOG_FILE_RE.test(n));
  } catch {
    return;
  }
  names.sort((a, b) => Number(LOG_FILE_RE.exec(a)![1]) - Number(LOG_FILE_RE.exec(b)![1]));
  for (const name of names) {
    let text: string;
    try {
      text = fs.readFileSync(path.join(dir, name), 'utf8');
    } catch {
      continue;
    }
    yield* text.split('\n');
  }
}
