// The commitlog's public contract: what the replica driver and the broker rely on.
// Implementation: commit-log.ts (segments + index; its parts are listed there), meta-store.ts
// (LevelDB), raft-storage.ts.

export type FlushDiskType = 'SYNC_FLUSH' | 'ASYNC_FLUSH';

export interface LogRecord {
  readonly index: number;
  readonly term: number;
  /** Raft entry type (0 normal, 1 no-op); stored in the header so recovery needs no body decode. */
  readonly type: number;
  readonly data: Uint8Array;
}

export interface CommitLogOptions {
  readonly dir: string;
  /** Default 1 GiB; small in tests. */
  readonly segmentBytes?: number;
  readonly flushDiskType?: FlushDiskType;
  /** ASYNC_FLUSH: flush at least this often (default 500). */
  readonly flushIntervalMs?: number;
  /** ASYNC_FLUSH: flush early once this many bytes are unflushed (default 4 MiB): with
   *  flushIntervalMs, bounds what an OS crash or power cut can lose (see commit-log.ts). */
  readonly flushLeastBytes?: number;
  /** Recent entries kept in memory for reads without a syscall (default 16 MiB). */
  readonly cacheBytes?: number;
  /** Receives warnings such as "cut a torn tail". Default: none. */
  readonly log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: object) => void;
  /** Sparse preallocation of the active segment (default true): while a segment is the last,
   *  appended-to one, its file is extended with ftruncate to segmentBytes (no blocks allocated),
   *  so an append does not change the file size and its fdatasync has no inode size update to
   *  commit (cheaper on ext4 for small appends). A roll and a clean close cut the file back
   *  to its last record, so closed stores and non-last segments look as with `false`. Recovery
   *  takes zeros after the last record as the clean end either way; `false` keeps every file
   *  exactly as long as its records at all times. */
  readonly preallocate?: boolean;
  /** A batch of at least this many bytes (per segment) gets its CRCs computed on a worker thread
   *  while the main thread goes on (default 64 KiB; 0: never, every CRC on the main thread). See
   *  crc-sealer.ts. */
  readonly crcOffloadMinBytes?: number;
  /** SYNC_FLUSH data writes with O_DIRECT | O_DSYNC (default true; needs `preallocate`): from an
   *  aligned staging buffer, bypassing the page cache; a write is durable when it returns (no
   *  separate fdatasync of the segment). Where the filesystem refuses O_DIRECT (at the open or at
   *  a write) the store logs a warning and writes through the page cache. ASYNC_FLUSH always
   *  writes through the page cache (it acknowledges at the write). See direct-writer.ts. */
  readonly directIo?: boolean;
  /** Files of segments removed by retention (deleteBefore) kept for new segments (default 0: none;
   *  at most 64; needs `preallocate`). A roll renames one to the new segment's name instead of
   *  creating a sparse file, so durable writes into it overwrite blocks the filesystem allocated
   *  before instead of allocating them. Beyond the bound a removed segment is unlinked; the kept
   *  files hold their disk space (up to this many segments) until reused, and a full disk
   *  (DISK_FULL on a write) unlinks them. See recycler.ts and docs/performance.md. */
  readonly recycledSegmentsMax?: number;
  /** Index entries per index file (default 1 Mi entries = 32 MiB files); small in tests. */
  readonly indexEntriesPerFile?: number;
  /** Told of each sync as it completes (metrics): called once per fdatasync or direct write,
   *  never per record. */
  readonly observer?: CommitLogObserver;
  /** Test-only fault injection (never set in production): see DiskFaults. A CommitLogFaults
   *  (faults.ts) can also crash the store or kill its CRC worker. */
  readonly faults?: DiskFaults;
}

/** Test-only: a mutable budget of bytes the store may still write. A write that does not fit is
 *  written up to the budget (a torn write) and then fails with ENOSPC, as a full disk does.
 *  Raise `bytesLeft` again to "free space". Setting `failDatasync` makes the next fdatasync fail
 *  with EIO (or the next direct write, which is its own fdatasync); `datasyncDelayMs` makes every
 *  fdatasync take that much longer (a slow disk). */
export interface DiskFaults {
  bytesLeft: number;
  /** Opening a segment with O_DIRECT fails with EINVAL, as on a filesystem without it. */
  refuseDirectIo?: boolean;
  /** Every direct write fails with EINVAL (the open worked), as where the alignment is wrong. */
  refuseDirectWrites?: boolean;
  failDatasync?: boolean;
  datasyncDelayMs?: number;
  /** The power goes out during the next data write: it writes nothing, fails with EIO, and
   *  records here the one block (file offsets) it would have written first, for the test to tear
   *  as a write cut off mid-block would. */
  powerCutNextWrite?: boolean;
  powerCutBlock?: { readonly start: number; readonly end: number } | null;
}

/** What a commitlog reports as it works (CommitLogOptions.observer). */
export interface CommitLogObserver {
  /** An fdatasync (or fsync), or a direct data write (O_DIRECT | O_DSYNC: a write that is its own
   *  sync), took `seconds`. */
  synced(kind: 'fdatasync' | 'directWrite', seconds: number): void;
}

/** Counters for benchmarks, tests and metrics. */
export interface CommitLogStats {
  readonly appendCalls: number;
  readonly recordsAppended: number;
  readonly bytesWritten: number;
  readonly writeCalls: number;
  /** Group commits: rounds of fdatasync (the segment; index + checkpoint at most once a second). */
  readonly flushRounds: number;
  readonly fdatasyncCalls: number;
  /** Data writes made with O_DIRECT, counted when issued (each may be several aligned write calls). */
  readonly directWrites: number;
  readonly segmentCount: number;
  /** Sum of the segments' sizes (their records, alignment padding and unused segment ends). */
  readonly segmentBytes: number;
  /** Segments created in a recycled file (recycledSegmentsMax) since open. */
  readonly segmentsRecycled: number;
  /** Files of removed segments waiting for reuse now. */
  readonly recycledFiles: number;
}

export interface CommitLog {
  /** 1 for a new log; after deleteBefore, the first retained index. */
  firstIndex(): number;
  /** firstIndex() - 1 when empty. */
  lastIndex(): number;
  /** Index up to which entries are durable (fdatasync done). */
  flushedIndex(): number;
  /** Whether an append resolves only once it is durable (SYNC_FLUSH): then what a caller has
   *  seen persisted is on disk, and a checkpoint of state built from it needs no flush first. */
  readonly appendsDurable: boolean;
  /** Term of `index`, from memory. 0 for index 0; throws for an index outside the log (except
   *  firstIndex() - 1 after retention, whose term is remembered). */
  termAt(index: number): number;
  /**
   * Appends a batch with consecutive indexes starting at lastIndex() + 1. The promise resolves
   * when the batch counts as written: under SYNC_FLUSH after fdatasync (concurrent appends share
   * one: group commit), under ASYNC_FLUSH once in the page cache.
   */
  append(records: readonly LogRecord[]): Promise<void>;
  /** Writes the records accepted so far now, instead of at the end of this event-loop turn (when
   *  the appends of the turn would have joined them): for a caller that knows nothing more comes
   *  in this turn and that someone waits for the write. Under SYNC_FLUSH their fdatasync starts
   *  now too. Never needed for correctness. */
  writeNow(): void;
  /** Synchronous read of records [fromIndex, ...) up to maxBytes of data (at least one record
   *  if fromIndex <= lastIndex()). Recent records come from memory. */
  read(fromIndex: number, maxBytes: number): LogRecord[];
  /** Removes every record after `index` (Raft conflict). Never below the flushed commit point
   *  the caller knows is committed: that is the caller's invariant, asserted by the driver. */
  truncateAfter(index: number): Promise<void>;
  /** Retention: drops whole segments that end before `index`. */
  deleteBefore(index: number): Promise<void>;
  /** Makes the log empty and restarts it at `first`, the entry before having term `prevTerm` (a
   *  snapshot replaced everything up to first - 1). Durable when it resolves; appends then
   *  continue at `first`. */
  restartAt(first: number, prevTerm: number): Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** The Raft hard state as the meta store keeps it (raft/types.ts HardState). */
export interface StoredHardState {
  readonly term: number;
  readonly vote: string;
  readonly commit: number;
  /** The store may lack what its replica once acknowledged: true for a store that never
   *  recorded a hard state (a new replica, or a replaced disk). */
  readonly recovering?: boolean;
}

/** Small durable metadata, in LevelDB. Every write is synced before the promise resolves. */
export interface MetaStore {
  getHardState(): StoredHardState;
  /** term and vote must be durable before the node acts on them (votes, term changes). */
  setHardState(hs: StoredHardState): Promise<void>;
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, value: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** Stable error codes of the commitlog. */
export type CommitLogErrorCode =
  | 'STORE_LOCKED'
  | 'STORE_CORRUPT'
  | 'DISK_FULL'
  | 'STORE_CLOSED'
  | 'INVALID_ARGUMENT'
  /** The index is below firstIndex() - 1 (removed by retention). */
  | 'COMPACTED'
  /** An I/O error other than a full disk (EIO, a failed fdatasync): the store refuses writes
   *  from then on (the page cache state is unknown after a failed fdatasync); reads still work. */
  | 'IO_ERROR';
