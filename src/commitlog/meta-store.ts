// Small durable metadata in LevelDB: the Raft hard state (term, vote, commit) and generic keys
// (the broker's applied-index checkpoint, consumer offsets, topic config). Every write is
// `{ sync: true }`: the promise resolves only once the write is durable. The hard state is cached
// in memory, so getHardState() is synchronous.
//
// A write that finds the disk full fails with DISK_FULL and may be tried again: LevelDB keeps a
// failed synced write's error for every later write of the open database (and its log file may
// hold a torn record), so the next write first reopens the database, which recovers its log up to
// the last whole record.
import fs from 'node:fs';
import path from 'node:path';
import { Level } from 'level';
import { CommitLogError } from './errors.ts';
import { isNoSpaceError } from '../util/index.ts';
import type { MetaStore, StoredHardState } from './types.ts';

const HARD_STATE_KEY = 'raft/hardState';
const KEY_BYTES_MAX = 1024;
const VALUE_BYTES_MAX = 16 * 1024 * 1024;

type HardStateValue = StoredHardState;

/** What a store that never recorded a hard state reports: it knows nothing, so it may be a
 *  replaced disk whose replica once acknowledged entries and votes (HardState.recovering). */
const FRESH_HARD_STATE: HardStateValue = { term: 0, vote: '', commit: 0, recovering: true };

export class LevelMetaStore implements MetaStore {
  private state: 'open' | 'closing' | 'closed' = 'open';
  private hardState: HardStateValue;
  /** A write found the disk full: the database is reopened before the next one. */
  private reopenBeforeWrite = false;

  private constructor(
    private readonly dir: string,
    private readonly db: Level<string, Uint8Array>,
    hs: HardStateValue,
  ) {
    this.hardState = hs;
  }

  static async open(dir: string): Promise<LevelMetaStore> {
    if (typeof dir !== 'string' || dir === '') {
      throw new CommitLogError('INVALID_ARGUMENT', 'openMetaStore: dir must be a non-empty string');
    }
    const full = path.resolve(dir);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    const db = new Level<string, Uint8Array>(full, { valueEncoding: 'view' });
    try {
      await db.open();
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      if (cause?.code === 'LEVEL_LOCKED' || /lock/i.test(String((err as Error).message) + String(cause))) {
        throw new CommitLogError('STORE_LOCKED', `meta store ${full} is locked by another process or instance`, { cause: err });
      }
      throw new CommitLogError('IO_ERROR', `cannot open meta store ${full}`, { cause: err });
    }
    let hs: HardStateValue = FRESH_HARD_STATE;
    const raw = await db.get(HARD_STATE_KEY);
    if (raw !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.from(raw).toString('utf8'));
      } catch (err) {
        await db.close();
        throw new CommitLogError('STORE_CORRUPT', `meta store ${full}: hard state is not JSON`, { cause: err });
      }
      const problem = hardStateProblem(parsed);
      if (problem !== null) {
        await db.close();
        throw new CommitLogError('STORE_CORRUPT', `meta store ${full}: bad hard state: ${problem}`);
      }
      hs = parsed as HardStateValue;
    }
    return new LevelMetaStore(full, db, hs);
  }

  getHardState(): StoredHardState {
    return { ...this.hardState };
  }

  async setHardState(hs: StoredHardState): Promise<void> {
    this.checkOpen('setHardState');
    const problem = hardStateProblem(hs);
    if (problem !== null) throw new CommitLogError('INVALID_ARGUMENT', `setHardState: ${problem}`);
    const value: HardStateValue = hs.recovering === true ? { term: hs.term, vote: hs.vote, commit: hs.commit, recovering: true } : { term: hs.term, vote: hs.vote, commit: hs.commit };
    await this.write('the hard state', () => this.db.put(HARD_STATE_KEY, Buffer.from(JSON.stringify(value)), { sync: true }));
    // Only once durable does the cached value change: a failed write leaves the old state.
    this.hardState = value;
  }

  /** Runs a synced write; a full disk fails it with DISK_FULL and has the next write reopen the
   *  database first (see the top of this file). */
  private async write(what: string, put: () => Promise<void>): Promise<void> {
    try {
      if (this.reopenBeforeWrite) {
        if (this.db.status === 'open') await this.db.close().catch(() => undefined);
        await this.db.open();
        this.reopenBeforeWrite = false;
      }
      await put();
    } catch (err) {
      if (!isNoSpaceError(err)) throw err;
      this.reopenBeforeWrite = true;
      throw new CommitLogError('DISK_FULL', `meta store ${this.dir}: disk full while writing ${what}`, { cause: err });
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    this.checkOpen('get');
    checkKey(key);
    return this.db.get(key);
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    this.checkOpen('put');
    checkKey(key);
    if (key === HARD_STATE_KEY) throw new CommitLogError('INVALID_ARGUMENT', `put: ${key} is reserved`);
    if (!(value instanceof Uint8Array) || value.byteLength > VALUE_BYTES_MAX) {
      throw new CommitLogError('INVALID_ARGUMENT', `put: value must be a Uint8Array of at most ${VALUE_BYTES_MAX} bytes`);
    }
    await this.write(key, () => this.db.put(key, value, { sync: true }));
  }

  async close(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closing';
    await this.db.close();
    this.state = 'closed';
  }

  private checkOpen(op: string): void {
    if (this.state !== 'open') throw new CommitLogError('STORE_CLOSED', `${op}: meta store ${this.dir} is ${this.state}`);
  }
}

function checkKey(key: string): void {
  if (typeof key !== 'string' || key === '' || Buffer.byteLength(key) > KEY_BYTES_MAX) {
    throw new CommitLogError('INVALID_ARGUMENT', `key must be a non-empty string of at most ${KEY_BYTES_MAX} bytes`);
  }
}

function hardStateProblem(v: unknown): string | null {
  if (v === null || typeof v !== 'object') return 'not an object';
  const hs = v as Record<string, unknown>;
  if (!Number.isSafeInteger(hs.term) || (hs.term as number) < 0) return `term ${String(hs.term)}`;
  if (typeof hs.vote !== 'string') return `vote ${String(hs.vote)}`;
  if (!Number.isSafeInteger(hs.commit) || (hs.commit as number) < 0) return `commit ${String(hs.commit)}`;
  if (hs.recovering !== undefined && typeof hs.recovering !== 'boolean') return `recovering ${String(hs.recovering)}`;
  return null;
}
