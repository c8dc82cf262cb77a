// Where a push consumer keeps its offsets (RocketMQ's OffsetStore): at the brokers per group
// (clustering: RemoteBrokerOffsetStore), or in a local file per member (broadcasting:
// LocalFileOffsetStore). Both hold the latest offsets in memory and persist them in rounds;
// a round that fails keeps them for the next one (at-least-once: a crash replays since the last).
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { MessageQueue } from '../publish-route.ts';
import { queueIdOf } from './allocate.ts';

export interface OffsetStore {
  /** The stored offset of `mq`; negative when there is none. */
  read(mq: MessageQueue): Promise<number>;
  /** The latest committable offset of `mq` (in memory until persisted). */
  update(mq: MessageQueue, offset: number): void;
  /** Persists the offsets of `mqs` that changed; false when some could not be. */
  persist(mqs: readonly MessageQueue[]): Promise<boolean>;
  /** Forgets `mq` (taken away: persisted before). */
  remove(mq: MessageQueue): void;
}

interface Tracked {
  readonly mq: MessageQueue;
  offset: number;
  persisted: number;
}

/** The group's offsets at the master of each queue's broker group. */
export class RemoteOffsetStore implements OffsetStore {
  private readonly table = new Map<string, Tracked>();

  constructor(
    private readonly query: (mq: MessageQueue) => Promise<number>,
    private readonly commit: (mq: MessageQueue, offset: number) => Promise<void>,
  ) {}

  read(mq: MessageQueue): Promise<number> {
    return this.query(mq);
  }

  update(mq: MessageQueue, offset: number): void {
    const t = this.table.get(queueIdOf(mq));
    if (t === undefined) this.table.set(queueIdOf(mq), { mq, offset, persisted: -1 });
    else t.offset = offset;
  }

  async persist(mqs: readonly MessageQueue[]): Promise<boolean> {
    let ok = true;
    await Promise.all(
      mqs.map(async (mq) => {
        const t = this.table.get(queueIdOf(mq));
        if (t === undefined || t.offset === t.persisted) return;
        const offset = t.offset;
        try {
          await this.commit(mq, offset);
          t.persisted = offset;
        } catch {
          ok = false; // kept: the next round commits it (a master may be back by then)
        }
      }),
    );
    return ok;
  }

  remove(mq: MessageQueue): void {
    this.table.delete(queueIdOf(mq));
  }
}

/** File format version of LocalFileOffsetStore. */
const LOCAL_OFFSETS_VERSION = 1;
/** Offsets one local file keeps (queues of a broadcasting member). */
export const LOCAL_OFFSETS_COUNT_MAX = 65_536;

/** A broadcasting member's offsets in `<dir>/<clientId>/<group>/offsets.json`, rewritten
 *  atomically (a temporary file renamed over the old one): a crash leaves the old or the new. */
export class LocalFileOffsetStore implements OffsetStore {
  private readonly table = new Map<string, Tracked>();
  readonly file: string;
  private loaded: Promise<void> | null = null;
  private writing: Promise<boolean> = Promise.resolve(true);

  constructor(dir: string, clientId: string, group: string) {
    this.file = path.join(dir, encodeURIComponent(clientId), encodeURIComponent(group), 'offsets.json');
  }

  private load(): Promise<void> {
    this.loaded ??= readFile(this.file, 'utf8').then(
      (text) => {
        const data = JSON.parse(text) as { version: number; offsets: { topic: string; brokerName: string; queueId: number; offset: number }[] };
        if (data.version !== LOCAL_OFFSETS_VERSION || !Array.isArray(data.offsets)) throw new Error(`${this.file}: not a version ${LOCAL_OFFSETS_VERSION} offsets file`);
        for (const o of data.offsets.slice(0, LOCAL_OFFSETS_COUNT_MAX)) {
          if (!Number.isSafeInteger(o.offset) || o.offset < 0) continue;
          const mq = { topic: String(o.topic), brokerName: String(o.brokerName), queueId: Number(o.queueId) };
          if (!this.table.has(queueIdOf(mq))) this.table.set(queueIdOf(mq), { mq, offset: o.offset, persisted: o.offset });
        }
      },
      (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      },
    );
    return this.loaded;
  }

  async read(mq: MessageQueue): Promise<number> {
    await this.load();
    return this.table.get(queueIdOf(mq))?.offset ?? -1;
  }

  update(mq: MessageQueue, offset: number): void {
    const t = this.table.get(queueIdOf(mq));
    if (t !== undefined) t.offset = offset;
    else if (this.table.size < LOCAL_OFFSETS_COUNT_MAX) this.table.set(queueIdOf(mq), { mq, offset, persisted: -1 });
  }

  /** Writes the whole table (every queue ever read stays in the file, as RocketMQ's). */
  persist(_mqs: readonly MessageQueue[]): Promise<boolean> {
    // One write at a time: two renames racing could put an older table last.
    this.writing = this.writing.then(() => this.write());
    return this.writing;
  }

  private async write(): Promise<boolean> {
    const entries = [...this.table.values()];
    if (entries.every((t) => t.offset === t.persisted)) return true;
    const offsets = entries.map((t) => ({ ...t.mq, offset: t.offset }));
    const tmp = `${this.file}.tmp`;
    try {
      await mkdir(path.dirname(this.file), { recursive: true });
      await writeFile(tmp, JSON.stringify({ version: LOCAL_OFFSETS_VERSION, offsets }));
      await rename(tmp, this.file);
      for (const [i, t] of entries.entries()) t.persisted = offsets[i]!.offset;
      return true;
    } catch {
      return false;
    }
  }

  /** Broadcasting keeps a queue's offset when it goes away (it comes back to the same member). */
  remove(_mq: MessageQueue): void {}
}
