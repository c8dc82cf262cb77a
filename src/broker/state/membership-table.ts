// Replicated table: the group's configurations as applied, newest last. Checkpoint record
// `g:history` -> [[index, voters, learners, [[id, peerAddr, clientAddr]...], op, node]...].
//
// A few past configurations are kept, not only the newest: a retention mark's snapshot must say
// which configuration was in force at the mark (Raft sends it with the snapshot), and a mark may
// be older than the newest change.
import { assert } from '../../util/index.ts';
import type { ConfChangeEntry } from '../../raft/index.ts';
import type { Membership } from '../membership.ts';
import { membershipOf, NODE_ID_PATTERN, addressProblem, MEMBER_COUNT_MAX } from '../membership.ts';
import type { CheckpointOp, ReplicatedTable } from './replicated-table.ts';
import { packr } from './replicated-table.ts';

/** Configurations kept; the oldest go first (a mark older than all of them is long cut). */
export const MEMBERSHIP_HISTORY_MAX = 64;

type MembershipRecord = readonly [index: number, voters: readonly string[], learners: readonly string[], addresses: readonly (readonly [string, string, string])[], op: string, node: string];
export type MembershipSnapshot = readonly MembershipRecord[];

const KEY_PREFIX = 'g:';
const KEY_HISTORY = 'g:history';
const OPS: ReadonlySet<string> = new Set(['addLearner', 'addVoter', 'promote', 'remove']);

export class MembershipTable implements ReplicatedTable<MembershipSnapshot> {
  readonly name = 'membership';
  readonly checkpointKeyPrefix = KEY_PREFIX;
  private history: Membership[] = [];
  private changed = false;

  /** The configuration applied last; null while none was (the seed is in force). */
  get current(): Membership | null {
    return this.history.at(-1) ?? null;
  }

  /** The configuration in force at log index `index` (null: the seed, or older than kept). */
  at(index: number): Membership | null {
    for (let i = this.history.length - 1; i >= 0; i--) if (this.history[i].index <= index) return this.history[i];
    return null;
  }

  /** Applies a configuration entry. Its context was built by the master (checked there). */
  apply(index: number, entry: ConfChangeEntry): Membership {
    const m = membershipOf(index, entry);
    assert(typeof m !== 'string', `state machine: configuration entry ${index}: ${m as string}`);
    this.history.push(m);
    if (this.history.length > MEMBERSHIP_HISTORY_MAX) this.history.shift();
    this.changed = true;
    return m;
  }

  snapshot(): MembershipSnapshot {
    return this.history.map((m) => [m.index, [...m.voters], [...m.learners], m.addresses.map((a) => [a.id, a.peerAddr, a.clientAddr] as const), m.change?.op ?? '', m.change?.node ?? ''] as const);
  }

  restore(snapshot: MembershipSnapshot): void {
    this.load(snapshot, 'snapshot');
    this.changed = true;
  }

  takeCheckpoint(ops: CheckpointOp[]): undefined {
    if (this.changed) ops.push({ type: 'put', key: KEY_HISTORY, value: packr.pack(this.snapshot()) });
    this.changed = false;
    return undefined;
  }

  loadCheckpointRecord(key: string, value: Uint8Array): void {
    assert(key === KEY_HISTORY, `state restore: bad key ${key}`);
    this.load(packr.unpack(value) as MembershipSnapshot, key);
  }

  finishCheckpointLoad(): void {}

  private load(snapshot: MembershipSnapshot, what: string): void {
    assert(Array.isArray(snapshot) && snapshot.length <= MEMBERSHIP_HISTORY_MAX, `state restore: ${what}: membership is not a list of at most ${MEMBERSHIP_HISTORY_MAX}`);
    const ids = (v: unknown): v is string[] => Array.isArray(v) && v.length <= MEMBER_COUNT_MAX && v.every((id) => typeof id === 'string' && NODE_ID_PATTERN.test(id));
    let prev = 0;
    const list: Membership[] = [];
    for (const r of snapshot) {
      assert(Array.isArray(r) && r.length === 6, `state restore: ${what}: a membership record is not [index, voters, learners, addresses, op, node]`);
      const [index, voters, learners, addresses, op, node] = r;
      assert(Number.isSafeInteger(index) && index > prev, `state restore: ${what}: membership indexes do not grow`);
      assert(ids(voters) && ids(learners), `state restore: ${what}: bad voters or learners`);
      assert(Array.isArray(addresses) && addresses.every((a) => Array.isArray(a) && a.length === 3 && NODE_ID_PATTERN.test(String(a[0])) && addressProblem(a[1]) === null && addressProblem(a[2]) === null), `state restore: ${what}: bad member addresses`);
      assert(OPS.has(op) && typeof node === 'string', `state restore: ${what}: bad membership change`);
      list.push({
        index,
        voters: [...voters],
        learners: [...learners],
        addresses: addresses.map(([id, peerAddr, clientAddr]) => ({ id, peerAddr, clientAddr })),
        change: { op: op as ConfChangeEntry['op'], node },
      });
      prev = index;
    }
    this.history = list;
  }
}
