// Progress of long CLI work on a terminal: a bar with the rate and the time left (cli-progress),
// drawn on stderr only when stderr is a terminal. Elsewhere (a pipe, a log file, --json) it draws
// nothing, and the caller's own plain lines, if any, stay as they were.
import cliProgress from 'cli-progress';

export interface Progress {
  /** Sets how much is done (and, for work without a known end, nothing else). */
  update(done: number, note?: string): void;
  stop(): void;
}

export interface ProgressOptions {
  /** Units of the work when known (a bar with ETA); absent: a counter with the rate. */
  readonly total?: number;
  /** What is counted ("msgs", "s"). */
  readonly unit: string;
  /** Whether to draw at all; default: stderr is a terminal. */
  readonly enabled?: boolean;
  readonly stream?: NodeJS.WriteStream;
}

const NO_PROGRESS: Progress = { update: () => undefined, stop: () => undefined };

/** Whether a bar would be drawn on stderr (callers skip their plain progress lines then). */
export function progressShown(stream: NodeJS.WriteStream = process.stderr): boolean {
  return stream.isTTY === true;
}

export function startProgress(opts: ProgressOptions): Progress {
  const stream = opts.stream ?? process.stderr;
  if (!(opts.enabled ?? progressShown(stream))) return NO_PROGRESS;
  const known = opts.total !== undefined;
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: known
        ? ` {bar} {percentage}% | {value}/{total} ${opts.unit} | {rate} ${opts.unit}/s | ETA {eta_formatted} {note}`
        : ` {value} ${opts.unit} | {rate} ${opts.unit}/s | {duration_formatted} {note}`,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  const t0 = performance.now();
  bar.start(opts.total ?? 0, 0, { rate: 0, note: '' });
  return {
    update(done, note = '') {
      const seconds = (performance.now() - t0) / 1000;
      if (!known && done > bar.getTotal()) bar.setTotal(done);
      bar.update(done, { rate: seconds > 0 ? Math.round(done / seconds) : 0, note });
    },
    stop() {
      bar.stop();
    },
  };
}
