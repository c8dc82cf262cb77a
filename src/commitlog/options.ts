// CommitLogOptions: their defaults and limits, checked once at open and resolved into the settings
// every part of the store reads (StoreSettings).
import path from 'node:path';
import { CRC_OFFLOAD_MIN_BYTES_DEFAULT } from './crc-sealer.ts';
import { CommitLogError } from './errors.ts';
import type { CommitLogOptions, FlushDiskType } from './types.ts';

export const SEGMENT_BYTES_DEFAULT = 1024 * 1024 * 1024;
export const INDEX_ENTRIES_PER_FILE_DEFAULT = 1024 * 1024;
export const FLUSH_INTERVAL_MS_DEFAULT = 500;
export const FLUSH_LEAST_BYTES_DEFAULT = 4 * 1024 * 1024;
/** Recent records kept in memory for reads (followers close behind, pulls of the tail). More gave
 *  replicas more RSS and no more throughput (three nodes at 256 in flight, `npm run bench`). */
export const CACHE_BYTES_DEFAULT = 16 * 1024 * 1024;

/** Files of retired segments kept for new segments (recycler.ts). */
export const RECYCLED_SEGMENTS_MAX_DEFAULT = 0;

/** Limits (TigerStyle: everything has one). */
const RECYCLED_SEGMENTS_MAX_LIMIT = 64;
const SEGMENT_BYTES_MIN = 4096;
const SEGMENT_BYTES_MAX = 2 ** 40;

export type LogFn = NonNullable<CommitLogOptions['log']>;

/** The options, checked and with their defaults. */
export interface StoreSettings {
  readonly dir: string;
  readonly dataDir: string;
  readonly indexDir: string;
  readonly segmentBytes: number;
  readonly indexPerFile: number;
  readonly mode: FlushDiskType;
  readonly flushIntervalMs: number;
  readonly flushLeastBytes: number;
  readonly cacheBytesMax: number;
  readonly preallocate: boolean;
  /** Data writes through DirectWriter, unless the filesystem refuses them (pump.ts). */
  readonly directIo: boolean;
  /** Each append starts its records at a block boundary of its segment (zeros before): a write
   *  never rewrites a block that holds records already acknowledged, so a power cut that tears
   *  the block a write was writing cannot take them (SYNC_FLUSH, which acknowledges durability). */
  readonly alignAppends: boolean;
  readonly crcOffloadMinBytes: number;
  /** Files of retired segments kept for reuse (recycler.ts); 0: none (needs `preallocate`). */
  readonly recycledSegmentsMax: number;
  readonly log: LogFn;
}

/** Checks `options` (INVALID_ARGUMENT naming the bad one) and fills in the defaults. */
export function resolveOptions(options: CommitLogOptions): StoreSettings {
  if (options === null || typeof options !== 'object' || typeof options.dir !== 'string' || options.dir === '') {
    throw new CommitLogError('INVALID_ARGUMENT', 'openCommitLog: options.dir must be a non-empty string');
  }
  checkInt('segmentBytes', options.segmentBytes, SEGMENT_BYTES_MIN, SEGMENT_BYTES_MAX);
  checkInt('indexEntriesPerFile', options.indexEntriesPerFile, 16, 2 ** 26);
  checkInt('flushIntervalMs', options.flushIntervalMs, 1, 3_600_000);
  checkInt('flushLeastBytes', options.flushLeastBytes, 1, 2 ** 40);
  checkInt('cacheBytes', options.cacheBytes, 0, 2 ** 40);
  checkInt('crcOffloadMinBytes', options.crcOffloadMinBytes, 0, 2 ** 40);
  checkInt('recycledSegmentsMax', options.recycledSegmentsMax, 0, RECYCLED_SEGMENTS_MAX_LIMIT);
  if (options.directIo !== undefined && typeof options.directIo !== 'boolean') {
    throw new CommitLogError('INVALID_ARGUMENT', `directIo must be a boolean, not ${String(options.directIo)}`);
  }
  if (options.preallocate !== undefined && typeof options.preallocate !== 'boolean') {
    throw new CommitLogError('INVALID_ARGUMENT', `preallocate must be a boolean, not ${String(options.preallocate)}`);
  }
  if (options.flushDiskType !== undefined && options.flushDiskType !== 'SYNC_FLUSH' && options.flushDiskType !== 'ASYNC_FLUSH') {
    throw new CommitLogError('INVALID_ARGUMENT', `flushDiskType must be SYNC_FLUSH or ASYNC_FLUSH, not ${String(options.flushDiskType)}`);
  }
  const dir = path.resolve(options.dir);
  const mode = options.flushDiskType ?? 'SYNC_FLUSH';
  const preallocate = options.preallocate ?? true;
  return {
    dir,
    dataDir: path.join(dir, 'data'),
    indexDir: path.join(dir, 'index'),
    segmentBytes: options.segmentBytes ?? SEGMENT_BYTES_DEFAULT,
    indexPerFile: options.indexEntriesPerFile ?? INDEX_ENTRIES_PER_FILE_DEFAULT,
    mode,
    flushIntervalMs: options.flushIntervalMs ?? FLUSH_INTERVAL_MS_DEFAULT,
    flushLeastBytes: options.flushLeastBytes ?? FLUSH_LEAST_BYTES_DEFAULT,
    cacheBytesMax: options.cacheBytes ?? CACHE_BYTES_DEFAULT,
    preallocate,
    // Direct writes pad the last block with zeros: the preallocated layout, where zeros after the
    // records are the clean end. ASYNC_FLUSH acknowledges at the write: the page cache is its point.
    directIo: (options.directIo ?? true) && preallocate && mode === 'SYNC_FLUSH',
    alignAppends: mode === 'SYNC_FLUSH',
    crcOffloadMinBytes: options.crcOffloadMinBytes ?? CRC_OFFLOAD_MIN_BYTES_DEFAULT,
    // A recycled file is longer than its records until the next roll: the preallocated layout.
    recycledSegmentsMax: preallocate ? (options.recycledSegmentsMax ?? RECYCLED_SEGMENTS_MAX_DEFAULT) : 0,
    log: options.log ?? (() => {}),
  };
}

function checkInt(name: string, v: number | undefined, min: number, max: number): void {
  if (v === undefined) return;
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    throw new CommitLogError('INVALID_ARGUMENT', `${name} must be an integer in [${min}, ${max}], not ${v}`);
  }
}
