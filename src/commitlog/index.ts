// The commitlog's public API.
import { FileCommitLog } from './commit-log.ts';
import { LevelMetaStore } from './meta-store.ts';
import type { CommitLogOptions } from './types.ts';

export type {
  CommitLog,
  CommitLogErrorCode,
  CommitLogObserver,
  CommitLogOptions,
  CommitLogStats,
  DiskFaults,
  FlushDiskType,
  LogRecord,
  MetaStore,
} from './types.ts';
export { CommitLogError } from './errors.ts';
export { FileCommitLog } from './commit-log.ts';
/** Bytes of the log's tail kept in memory (the record cache): the broker's slave-read threshold is a share of it. */
export { CACHE_BYTES_DEFAULT } from './options.ts';
export { LevelMetaStore } from './meta-store.ts';
export { CommitLogRaftStorage } from './raft-storage.ts';
export { repairCommitLog } from './repair.ts';
export { INDEX_ENTRY_SIZE, RECORD_HEADER_SIZE, crc32Small, encodeRecord } from './record.ts';
export { DIRECT_ALIGN, DirectWriter, alignedBuffer } from './direct-writer.ts';
export { EncodeArena } from './encode-arena.ts';
/** Test-only fault injection (crash a store, kill its CRC worker): passed as CommitLogOptions.faults. */
export { CommitLogFaults, type CrashInfo, type RecyclePoint } from './faults.ts';

/** Opens (creating if needed) the commitlog in options.dir, recovering it after a crash. */
export function openCommitLog(options: CommitLogOptions): Promise<FileCommitLog> {
  return FileCommitLog.open(options);
}

/** Opens (creating if needed) the LevelDB meta store in `dir`. */
export function openMetaStore(dir: string): Promise<LevelMetaStore> {
  return LevelMetaStore.open(dir);
}
export { LOG_SEGMENTS_REMOVED } from './truncation.ts';
