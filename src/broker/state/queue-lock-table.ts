// Replicated table: ordered-consumption queue locks (RocketMQ's RebalanceLockManager), so that a
// lock a dead master granted still holds after a failover. (group, topic, queueId) -> the member
// holding it and when (the master's clock, carried in the entry: apply reads no clock).
// Checkpoint records `l:<group>:<topic>:<queueId 4 digits>` -> [clientId, lockedAtMs]; ':' never
// occurs in group or topic names.
//
// A lock lapses QUEUE_LOCK_LIFETIME_MS after it was taken or last renewed; a lapsed lock stays in
// the table (it still names its last holder) until someone else takes the queue, its holder
// unlocks it, or room is needed. Bounded: at most QUEUE_LOCK_COUNT_MAX locks; a lock command that
// needs more room first drops every lapsed lock (at its atMs: every replica drops the same), and
// is refused whole (OVERLOADED) if that is still not enough.
import { assert } from '../../util/index.ts';
import { CLIENT_ID_PATTERN, QUEUE_LOCK_LIFETIME_MS, TOPIC_QUEUE_COUNT_MAX, type QueueRef } from '../../protocol/index.ts';
import { validateGroupName, validateTopicName } from '../commands.ts';
import type { CheckpointOp, ReplicatedTable, RestoreContext } from './replicated-table.ts';
import { assertRestored, cmp, packr } from './replicated-table.ts';

/** Queue locks one broker group keeps (lapsed ones included until dropped). */
export const QUEUE_LOCK_COUNT_MAX = 65_536;

/** [group, topic, queueId, clientId, lockedAtMs], sorted by checkpoint key. */
export type QueueLockSnapshot = readonly (readonly [group: string, topic: string, queueId: number, clientId: string, lockedAtMs: number])[];

export interface QueueLock {
  readonly clientId: string;
  /** The master's clock (ms) when the lock was taken or last renewed. */
  readonly lockedAtMs: number;
}

const KEY_PREFIX = 'l:';

function lockKey(group: string, topic: string, queueId: number): string {
  return `${KEY_PREFIX}${group}:${topic}:${String(queueId).padStart(4, '0')}`;
}

function partsOf(key: string): [group: string, topic: string, queueId: number] {
  const [group = '', topic = '', queueId = ''] = key.slice(KEY_PREFIX.length).split(':');
  return [group, topic, Number(queueId)];
}

/** Key of a member's set of held locks (derived index). */
const memberKey = (group: string, clientId: string): string => `${group}\0${clientId}`;

export interface QueueLockTableOptions {
  /** Test-only planted bugs (the property test must find them). Never set in production.
   *  forgetOnRestore: restores (snapshot or checkpoint) lose every lock.
   *  expiryReversed: a lock counts as lapsed while it is fresh, and as held once it lapsed. */
  readonly forgetOnRestore?: boolean;
  readonly expiryReversed?: boolean;
}

export class QueueLockTable implements ReplicatedTable<QueueLockSnapshot> {
  readonly name = 'queueLocks';
  readonly checkpointKeyPrefix = KEY_PREFIX;
  private readonly locks = new Map<string, QueueLock>();
  /** memberKey -> the lock keys it holds (lapsed ones too): unlock-all without a scan. */
  private readonly byMember = new Map<string, Set<string>>();
  private readonly changed = new Set<string>();
  private readonly forgetOnRestore: boolean;
  private readonly expiryReversed: boolean;

  constructor(options: QueueLockTableOptions = {}) {
    this.forgetOnRestore = options.forgetOnRestore ?? false;
    this.expiryReversed = options.expiryReversed ?? false;
  }

  get size(): number {
    return this.locks.size;
  }

  /** The lock on a queue, lapsed or not. */
  get(group: string, topic: string, queueId: number): QueueLock | undefined {
    return this.locks.get(lockKey(group, topic, queueId));
  }

  /** Whether `lock` has lapsed at `atMs` (the master's clock). */
  lapsed(lock: QueueLock, atMs: number): boolean {
    const over = atMs - lock.lockedAtMs > QUEUE_LOCK_LIFETIME_MS;
    return this.expiryReversed ? !over : over;
  }

  /** The queues (of this group) `clientId` holds a lock on, lapsed or not, in key order. */
  /** Every (group, clientId) holding a lock (lapsed ones too), sorted. */
  holders(): { group: string; clientId: string }[] {
    return [...this.byMember.keys()].sort(cmp).map((mk) => {
      const at = mk.indexOf('\0');
      return { group: mk.slice(0, at), clientId: mk.slice(at + 1) };
    });
  }

  heldBy(group: string, clientId: string): QueueRef[] {
    const keys = this.byMember.get(memberKey(group, clientId));
    if (keys === undefined) return [];
    return [...keys].sort(cmp).map((key) => {
      const [, topic, queueId] = partsOf(key);
      return { topic, queueId };
    });
  }

  /** Apply of a lock command: each queue is granted to `clientId` if free, already its own
   *  (renewed: lockedAtMs = atMs) or its holder's lock lapsed. `exists` says whether a queue
   *  still exists (a topic deleted since the master checked: not granted). Returns the requested
   *  queues `clientId` now holds, in request order, or null when the table has no room for the
   *  new ones even after dropping the lapsed locks (nothing changed then). */
  lock(group: string, clientId: string, queues: readonly QueueRef[], atMs: number, exists: (q: QueueRef) => boolean): QueueRef[] | null {
    const grant: { key: string; q: QueueRef }[] = [];
    const seen = new Set<string>();
    let newSlots = 0;
    for (const q of queues) {
      const key = lockKey(group, q.topic, q.queueId);
      if (seen.has(key) || !exists(q)) continue;
      seen.add(key);
      const held = this.locks.get(key);
      if (held !== undefined && held.clientId !== clientId && !this.lapsed(held, atMs)) continue;
      if (held === undefined) newSlots++;
      grant.push({ key, q });
    }
    if (this.locks.size + newSlots > QUEUE_LOCK_COUNT_MAX) {
      // Dropping lapsed locks of the granted queues' keys would not make room (they are reused).
      this.dropLapsed(atMs, seen);
      if (this.locks.size + newSlots > QUEUE_LOCK_COUNT_MAX) return null;
    }
    for (const { key } of grant) this.set(key, group, { clientId, lockedAtMs: atMs });
    return grant.map(({ q }) => ({ topic: q.topic, queueId: q.queueId }));
  }

  /** Apply of an unlock: releases those of `queues` that `clientId` holds; others untouched. */
  unlock(group: string, clientId: string, queues: readonly QueueRef[]): void {
    for (const q of queues) {
      const key = lockKey(group, q.topic, q.queueId);
      if (this.locks.get(key)?.clientId === clientId) this.remove(key);
    }
  }

  /** Apply of an unlock-all: every lock `clientId` holds in `group` goes (a member left or died). */
  unlockAll(group: string, clientId: string): void {
    const keys = this.byMember.get(memberKey(group, clientId));
    if (keys !== undefined) for (const key of [...keys]) this.remove(key);
  }

  /** deleteTopic: every lock on the topic's queues goes. A scan of at most QUEUE_LOCK_COUNT_MAX
   *  locks: topic deletion is a rare operator command. */
  deleteTopic(topic: string): void {
    for (const key of [...this.locks.keys()]) if (partsOf(key)[1] === topic) this.remove(key);
  }

  snapshot(): QueueLockSnapshot {
    return [...this.locks.keys()].sort(cmp).map((key) => {
      const { clientId, lockedAtMs } = this.locks.get(key)!;
      return [...partsOf(key), clientId, lockedAtMs] as const;
    });
  }

  restore(snapshot: QueueLockSnapshot, context: RestoreContext): void {
    assert(Array.isArray(snapshot), 'state restore: the queue locks snapshot is not an array');
    this.clear();
    if (!this.forgetOnRestore) {
      for (const record of snapshot) {
        assert(Array.isArray(record) && record.length === 5, 'state restore: a queue lock snapshot record is not [group, topic, queueId, clientId, lockedAtMs]');
        const [group, topic, queueId, clientId, lockedAtMs] = record;
        assert(Number.isInteger(queueId), `state restore: queue lock of ${String(group)} on ${String(topic)} has queueId ${String(queueId)}`);
        this.add(lockKey(String(group), String(topic), queueId), [clientId, lockedAtMs]);
      }
    }
    this.finishCheckpointLoad(context);
    for (const key of this.locks.keys()) this.changed.add(key);
  }

  takeCheckpoint(ops: CheckpointOp[]): undefined {
    for (const key of this.changed) {
      const lock = this.locks.get(key);
      ops.push(lock === undefined ? { type: 'del', key } : { type: 'put', key, value: packr.pack([lock.clientId, lock.lockedAtMs]) });
    }
    this.changed.clear();
    return undefined;
  }

  loadCheckpointRecord(key: string, value: Uint8Array): void {
    if (this.forgetOnRestore) return;
    this.add(key, packr.unpack(value) as unknown);
  }

  /** Every lock must be on a queue of an existing topic. */
  finishCheckpointLoad({ tables }: RestoreContext): void {
    for (const key of this.locks.keys()) {
      const [, topic, queueId] = partsOf(key);
      const queueCount = tables.topics.queueCount(topic);
      assert(queueCount !== undefined && queueId < queueCount, `state restore: queue lock ${key} of an unknown queue`);
    }
  }

  /** Adds a restored lock after checking what it alone shows. */
  private add(key: string, value: unknown): void {
    const [group, topic, queueId] = partsOf(key);
    assertRestored(() => {
      validateGroupName(group);
      validateTopicName(topic);
    }, key);
    assert(Number.isInteger(queueId) && queueId >= 0 && queueId < TOPIC_QUEUE_COUNT_MAX && key === lockKey(group, topic, queueId), `state restore: bad key ${key}`);
    assert(Array.isArray(value) && value.length === 2, `state restore: queue lock ${key} is not [clientId, lockedAtMs]`);
    const [clientId, lockedAtMs] = value as unknown[];
    assert(typeof clientId === 'string' && CLIENT_ID_PATTERN.test(clientId), `state restore: queue lock ${key} has a bad client id`);
    assert(Number.isSafeInteger(lockedAtMs) && (lockedAtMs as number) >= 0, `state restore: queue lock ${key} has a bad lockedAtMs`);
    assert(!this.locks.has(key), `state restore: queue lock ${key} twice`);
    assert(this.locks.size < QUEUE_LOCK_COUNT_MAX, 'state restore: too many queue locks');
    this.set(key, group, { clientId, lockedAtMs: lockedAtMs as number });
  }

  /** Drops every lock lapsed at `atMs` except those under `keep`: a scan, only when full. */
  private dropLapsed(atMs: number, keep: ReadonlySet<string>): void {
    for (const [key, lock] of [...this.locks]) if (!keep.has(key) && this.lapsed(lock, atMs)) this.remove(key);
  }

  private set(key: string, group: string, lock: QueueLock): void {
    const before = this.locks.get(key);
    if (before !== undefined && before.clientId !== lock.clientId) this.unindex(key, group, before.clientId);
    this.locks.set(key, lock);
    const mk = memberKey(group, lock.clientId);
    let keys = this.byMember.get(mk);
    if (keys === undefined) this.byMember.set(mk, (keys = new Set()));
    keys.add(key);
    this.changed.add(key);
  }

  private remove(key: string): void {
    const lock = this.locks.get(key);
    if (lock === undefined) return;
    this.locks.delete(key);
    this.unindex(key, partsOf(key)[0], lock.clientId);
    this.changed.add(key);
  }

  private unindex(key: string, group: string, clientId: string): void {
    const mk = memberKey(group, clientId);
    const keys = this.byMember.get(mk);
    keys?.delete(key);
    if (keys?.size === 0) this.byMember.delete(mk);
  }

  private clear(): void {
    this.locks.clear();
    this.byMember.clear();
    this.changed.clear();
  }
}
