// Two small parts of the replica driver's view of its role: who waits for this leader to be
// ready (an entry of its term applied), and the recent role changes kept for operators.
import type { RoleChange } from '../protocol/index.ts';
import type { SoftState } from '../raft/index.ts';
import { brokerRoleOf } from './role.ts';

/** Role and leader changes kept for operators (roleChanges). */
export const ROLE_CHANGES_KEPT_MAX = 64;

/** Callers of whenLeaderReady, each settled once: true when the leader is ready, false when it
 *  stops being leader first or its timeout passes. At most `max` wait. */
export class ReadyWaiters {
  private waiters: Array<(ready: boolean) => void> = [];

  constructor(private readonly max: number) {}

  wait(timeoutMs: number): Promise<boolean> {
    if (this.waiters.length >= this.max) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(false);
      }, timeoutMs);
      const waiter = (ready: boolean) => {
        clearTimeout(timer);
        resolve(ready);
      };
      this.waiters.push(waiter);
    });
  }

  settle(ready: boolean): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w(ready);
  }
}

/** The latest role and leader changes, oldest first (at most ROLE_CHANGES_KEPT_MAX). */
export class RoleChangeLog {
  private readonly changes: RoleChange[] = [];
  /** Told of every change of role, term or leader (the NameServer registrar). */
  private readonly listeners: Array<() => void> = [];

  get list(): readonly RoleChange[] {
    return this.changes;
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Tells the listeners of a change of role, term or leader; records `soft` if its role or
   *  leader differs from `before`, and returns whether it did. */
  note(before: SoftState, soft: SoftState): boolean {
    if (before.role !== soft.role || before.term !== soft.term || before.leaderId !== soft.leaderId) for (const l of this.listeners) l();
    if (before.role === soft.role && before.leaderId === soft.leaderId) return false;
    if (this.changes.length >= ROLE_CHANGES_KEPT_MAX) this.changes.shift();
    this.changes.push({ atMs: Date.now(), term: soft.term, role: brokerRoleOf(soft.role), raftRole: soft.role, leaderId: soft.leaderId });
    return true;
  }
}
