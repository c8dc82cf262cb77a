// Progress of long CLI work on a terminal: a bar with the rate and the time left (cli-progress),
// drawn on stderr only when stderr is a terminal. Elsewhere (a pipe, a log file, --json) it draws
// nothing, and the caller's own plain lines, if any, stay as they were.
import cliProgress from 'cli-progress';

export interface Progress {
  /** Sets how much is done (and, for work without a known end, nothing else). */
  update(done: number, note?: string): void;
  /** Prints a line of the work's own output above the bar (or just prints it: no bar), on the
   *  bar's stream or on `to` (stdout's results on the same terminal). */
  log(line: string, to?: NodeJS.WritableStream): void;
  stop(): void;
}

export interface ProgressOptions {
  /** Units of the work when known (a bar with ETA); absent: a counter with the rate. */
  readonly total?: number;
  /** What is counted ("msgs", "s"). */
  readonly unit: string;
  /** Show the rate (units per second); default true. Not for work counted in seconds. */
  readonly rate?: boolean;
  /** Whether to draw at all; default: stderr is a terminal. */
  readonly enabled?: boolean;
  readonly stream?: NodeJS.WriteStream;
}

function noProgress(stream: NodeJS.WriteStream): Progress {
  return { update: () => undefined, log: (line, to = stream) => void to.write(`${line}\n`), stop: () => undefined };
}

/** Whether a bar would be drawn on stderr (callers skip their plain progress lines then). */
export function progressShown(stream: NodeJS.WriteStream = process.stderr): boolean {
  return stream.isTTY === true;
}

export function startProgress(opts: ProgressOptions): Progress {
  const stream = opts.stream ?? process.stderr;
  if (!(opts.enabled ?? progressShown(stream))) return noProgress(stream);
  const known = opts.total !== undefined;
  const rate = opts.rate === false ? '' : ` | {rate} ${opts.unit}/s`;
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: known
        ? ` {bar} {percentage}% | {value}/{total} ${opts.unit}${rate} | ETA {eta_formatted} {note}`
        : ` {value} ${opts.unit}${rate} | {duration_formatted} {note}`,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
      fps: 5,
      // Redraw even when nothing changed: a line printed above clears the bar's line.
      forceRedraw: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const t0 = performance.now();
  let stopped = false;
  bar.start(opts.total ?? 0, 0, { rate: 0, note: '' });
  return {
    update(done, note = '') {
      const seconds = (performance.now() - t0) / 1000;
      if (!known && done > bar.getTotal()) bar.setTotal(done);
      bar.update(done, { rate: seconds > 0 ? Math.round(done / seconds) : 0, note });
    },
    log(line, to = stream) {
      if (stopped) return void to.write(`${line}\n`);
      // Clear the bar's line, print, and draw the bar again below.
      stream.write('\r\x1b[2K');
      to.write(`${line}\n`);
      bar.render();
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}
