// The applied-index checkpoint: the state machine's tables in LevelDB. A checkpoint writes what
// changed since the previous one and the applied index in ONE synced batch, so a restart resumes
// at appliedIndex + 1 and the replay of the log from there reproduces exactly the same state
// (apply is deterministic). Each table owns the keys under its prefix; `m:state` holds
// [format version, applied index, applied term].
import { Level } from 'level';
import { assert, isNoSpaceError } from '../../util/index.ts';
import type { ColdChunkStore } from './consume-queue-table.ts';
import type { CheckpointOp, ReplicatedTable } from './replicated-table.ts';
import { packr } from './replicated-table.ts';

/** Tables of the checkpoint LevelDB kept open. The bound matters because LevelDB's table cache
 *  keeps every open table's index in native memory, and cold chunks fill ever more tables; they
 *  are read rarely (consumers far behind), so reopening a table is cheap. */
const STATE_DB_OPEN_FILES_MAX = 64;
const STATE_FORMAT_VERSION = 1;
const KEY_META = 'm:state';

export interface CheckpointMeta {
  readonly applied: number;
  readonly term: number;
}

/** One checkpoint's LevelDB batch, taken synchronously (see checkpoint()). */
interface CheckpointBatch {
  readonly ops: CheckpointOp[];
  readonly applied: number;
  /** Run once the batch is durable. */
  readonly onDurable: readonly (() => void)[];
  /** Delete every key the batch does not write: the state was replaced (restore from a snapshot). */
  readonly replacesAll: boolean;
}

export class CheckpointStore implements ColdChunkStore {
  private db: Level<string, Uint8Array> | undefined;
  /** A batch whose write found the disk full: written again with the next one (the tables
   *  forgot its changes when it was taken). */
  private retry: CheckpointBatch | null = null;
  /** The LevelDB must be reopened before the next write (a full disk; its reopen may fail too
   *  while the disk stays full, and is tried again with the next checkpoint). */
  private mustReopen = false;
  private chain: Promise<void> = Promise.resolve();
  /** The first failed write: every later checkpoint fails with it. */
  private failure: Error | null = null;
  /** Applied index of the last checkpoint written. */
  private durableApplied = 0;
  /** Applied index of the last checkpoint taken (written or not). */
  private takenApplied = 0;
  private replaceAllNext = false;

  private constructor(db: Level<string, Uint8Array>) {
    this.db = db;
  }

  /** Opens (or creates) the store in `dir`. */
  static async open(dir: string): Promise<CheckpointStore> {
    const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view', maxOpenFiles: STATE_DB_OPEN_FILES_MAX });
    await db.open();
    return new CheckpointStore(db);
  }

  /** Applied index of the last completed checkpoint (what a restart resumes after). */
  get checkpointedIndex(): number {
    return this.durableApplied;
  }

  /** Streams every record to the table owning its prefix. Returns the checkpoint's applied
   *  index and term; undefined for an empty store. */
  async load(tables: readonly ReplicatedTable<unknown>[]): Promise<CheckpointMeta | undefined> {
    const db = this.db;
    assert(db !== undefined, 'checkpoint store: load after close');
    const byPrefix = tablesByPrefix(tables);
    let meta: Uint8Array | undefined;
    let records = 0;
    for await (const [key, value] of db.iterator()) {
      if (key === KEY_META) {
        meta = value;
        continue;
      }
      const table = byPrefix.get(key.slice(0, 2));
      assert(table !== undefined, `state restore: unknown key ${key}`);
      table.loadCheckpointRecord(key, value);
      records++;
    }
    if (meta === undefined) {
      assert(records === 0, 'state restore: data without an applied index');
      return undefined;
    }
    const m = packr.unpack(meta) as unknown;
    assert(Array.isArray(m) && m[0] === STATE_FORMAT_VERSION && isIndex(m[1]) && isIndex(m[2]), 'state restore: bad meta record');
    this.durableApplied = this.takenApplied = m[1] as number;
    return { applied: m[1] as number, term: m[2] as number };
  }

  /** The next checkpoint writes the whole state and removes every other key (the state was
   *  replaced wholesale; the tables count all of it as changed). */
  replaceAllOnNextCheckpoint(): void {
    this.replaceAllNext = true;
  }

  /**
   * Writes what the tables changed since the previous checkpoint and `meta` in one synced
   * batch; resolves to the checkpointed applied index. The batch is taken synchronously, in the
   * call: what is applied after the call is not in it. Batches are written one after another,
   * in call order. A write that finds the disk full fails this checkpoint only: its batch goes
   * again with the next one (the LevelDB is reopened first). Any other failed write fails this and
   * every later checkpoint (a later batch holds only what changed after the failed one was
   * taken). After close it writes nothing.
   */
  checkpoint(tables: readonly ReplicatedTable<unknown>[], meta: CheckpointMeta): Promise<number> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const batch = this.db === undefined ? null : this.take(tables, meta);
    const run = this.chain.then(() => this.write(batch));
    this.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** A record, synchronously (cold chunks are read by pulls). */
  getSync(key: string): Uint8Array | undefined {
    assert(this.db !== undefined, `checkpoint store: ${key} read after close`);
    return this.db.getSync(key);
  }

  /** Waits for the checkpoints in flight (their failure is theirs to report) and closes. */
  async close(): Promise<void> {
    await this.chain;
    const db = this.db;
    this.db = undefined;
    if (db !== undefined) await db.close();
  }

  /** What changed since the previous batch taken, as LevelDB puts; null when nothing did. */
  private take(tables: readonly ReplicatedTable<unknown>[], meta: CheckpointMeta): CheckpointBatch | null {
    const ops: CheckpointOp[] = [];
    const onDurable: (() => void)[] = [];
    for (const table of tables) {
      const done = table.takeCheckpoint(ops);
      if (done !== undefined) onDurable.push(done);
    }
    const retry = this.retry;
    const replacesAll = this.replaceAllNext || (retry?.replacesAll ?? false);
    if (ops.length === 0 && meta.applied === this.takenApplied && !replacesAll && retry === null) return null;
    ops.push({ type: 'put', key: KEY_META, value: packr.pack([STATE_FORMAT_VERSION, meta.applied, meta.term]) });
    this.replaceAllNext = false;
    this.takenApplied = meta.applied;
    this.retry = null;
    // The failed batch first: what this one writes of the same keys is newer.
    if (retry !== null) return { ops: [...retry.ops, ...ops], applied: meta.applied, onDurable: [...retry.onDurable, ...onDurable], replacesAll };
    return { ops, applied: meta.applied, onDurable, replacesAll };
  }

  private async write(batch: CheckpointBatch | null): Promise<number> {
    if (this.failure !== null) throw this.failure;
    const db = this.db;
    if (batch === null || db === undefined) return this.durableApplied;
    try {
      // LevelDB keeps a failed synced write's error (and may drop later writes it reports done)
      // until it is reopened.
      if (this.mustReopen) {
        if (db.status === 'open') await db.close();
        await db.open();
        this.mustReopen = false;
      }
      const ops = batch.replacesAll ? [...(await staleKeyDeletes(db, batch.ops)), ...batch.ops] : batch.ops;
      await db.batch(ops as CheckpointOp[], { sync: true });
    } catch (err) {
      if (!isNoSpaceError(err)) {
        this.failure = err as Error;
        throw err;
      }
      // A full disk: the batch goes again with the next checkpoint.
      this.retry = batch;
      this.mustReopen = true;
      throw err;
    }
    this.durableApplied = batch.applied;
    for (const done of batch.onDurable) done();
    return batch.applied;
  }
}

function tablesByPrefix(tables: readonly ReplicatedTable<unknown>[]): Map<string, ReplicatedTable<unknown>> {
  const byPrefix = new Map<string, ReplicatedTable<unknown>>();
  for (const table of tables) {
    const prefix = table.checkpointKeyPrefix;
    assert(/^[a-z]:$/.test(prefix) && !KEY_META.startsWith(prefix) && !byPrefix.has(prefix), `checkpoint store: table ${table.name} has key prefix ${prefix}`);
    byPrefix.set(prefix, table);
  }
  return byPrefix;
}

/** Deletes of every stored key that `ops` does not write. */
async function staleKeyDeletes(db: Level<string, Uint8Array>, ops: readonly CheckpointOp[]): Promise<CheckpointOp[]> {
  const written = new Set(ops.map((op) => op.key));
  const deletes: CheckpointOp[] = [];
  for await (const key of db.keys()) if (!written.has(key)) deletes.push({ type: 'del', key });
  return deletes;
}

function isIndex(v: unknown): boolean {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}
