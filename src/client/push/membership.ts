// A push consumer's membership in its group (RocketMQ's heartbeat and consumer id list): a
// heartbeat with the subscriptions to the master of every broker group that holds a subscribed
// topic, and a consumerList long poll to one of them (the first by brokerName) that answers as
// soon as the group's members change. Every master knows every member; the member list is taken
// from that one master, so the members compare like with like.
import { CONSUMER_HEARTBEAT_INTERVAL_MS, CONSUMER_HEARTBEAT_TIMEOUT_MS, CONSUMER_LIST_WAIT_MS_MAX, isRetryable, type ConsumeModel, type ConsumerGroupView, type Subscription } from '../../protocol/index.ts';
import { backoffMs, delay } from '../../net/index.ts';
import type { Brokers } from './brokers.ts';

/** How long one consumerList long poll waits at the master. */
export const CONSUMER_LIST_WAIT_MS = Math.min(10_000, CONSUMER_LIST_WAIT_MS_MAX);

export interface MembershipOptions {
  readonly group: string;
  readonly clientId: string;
  readonly consumeModel: ConsumeModel;
  readonly brokers: Brokers;
  readonly requestTimeoutMs: number;
  /** The subscriptions a heartbeat declares. */
  readonly subscriptions: () => Subscription[];
  /** The broker groups holding a subscribed topic, sorted by brokerName. */
  readonly brokerNames: () => readonly string[];
  /** The member list changed. */
  readonly onChange: () => void;
  /** A heartbeat to `brokerName`'s master succeeded after one or more failed for long enough
   *  that the master may have dropped this member (and released its queue locks). */
  readonly onRejoin?: (brokerName: string) => void;
  /** NEW_MASTER_VIEW_GRACE_MS unless a test says otherwise. */
  readonly newMasterGraceMs?: number;
}

/** A member whose last answered heartbeat to a master is older than this stops starting new
 *  orderly batches there: the master drops it (and frees its locks) at
 *  CONSUMER_HEARTBEAT_TIMEOUT_MS, so this leaves one heartbeat interval of margin. */
export const HEARTBEAT_FRESH_MS = CONSUMER_HEARTBEAT_TIMEOUT_MS - CONSUMER_HEARTBEAT_INTERVAL_MS;

/** A new master knows no member until each heartbeats it (within one interval): its member list
 *  is taken only this long after it was first seen, so a failover does not rebalance the group
 *  onto the few members that happened to heartbeat first (and back), replaying queues. */
export const NEW_MASTER_VIEW_GRACE_MS = 2 * CONSUMER_HEARTBEAT_INTERVAL_MS;

export class GroupMembership {
  private view: ConsumerGroupView | null = null;
  /** The broker group the view came from: a view from another master starts afresh. */
  private viewFrom: string | null = null;
  private running = false;
  /** A membership master's instance seen after another one's, and when: its views wait for
   *  NEW_MASTER_VIEW_GRACE_MS. */
  private pendingInstance: { readonly instance: string; readonly since: number } | null = null;
  /** brokerName -> when its master last answered a heartbeat (Date.now()). */
  private readonly answeredAt = new Map<string, number>();

  constructor(private readonly o: MembershipOptions) {}

  /** When `brokerName`'s master last answered a heartbeat (0: never). */
  heartbeatAnsweredAt(brokerName: string): number {
    return this.answeredAt.get(brokerName) ?? 0;
  }

  /** The group's live members, sorted (empty before the first answer). */
  get clientIds(): readonly string[] {
    return this.view?.clientIds ?? [];
  }

  /** Sends one round of heartbeats; resolves when every master answered or failed, with the
   *  refusals that retrying cannot cure (BAD_REQUEST, a full group). */
  async heartbeat(): Promise<unknown[]> {
    const subscriptions = this.o.subscriptions();
    const refusals: unknown[] = [];
    await Promise.all(
      this.o.brokerNames().map(async (name) => {
        const client = this.o.brokers.client(name);
        if (client === undefined) return;
        try {
          const r = await client.callMaster<'heartbeat'>(
            { type: 'heartbeat', group: this.o.group, clientId: this.o.clientId, consumeModel: this.o.consumeModel, subscriptions },
            // followMasterChange: a heartbeat unanswered for 200 ms starts the client's probe for a
            // new master, which the pull loops then follow (pull-loop.ts, masterMoved).
            { tries: 2, deadline: Date.now() + this.o.requestTimeoutMs, followMasterChange: true },
          );
          const now = Date.now();
          const before = this.answeredAt.get(name);
          this.answeredAt.set(name, now);
          if (before !== undefined && now - before >= HEARTBEAT_FRESH_MS) this.o.onRejoin?.(name);
          this.adopt(name, r.view);
        } catch (err) {
          // The next round tries again; the broker drops a member only after missed heartbeats.
          if (!isRetryable(err)) refusals.push(err);
        }
      }),
    );
    return refusals;
  }

  /** Follows the member list with long polls until stop(). */
  start(): void {
    if (this.running) return;
    this.running = true;
    void this.pollLoop();
  }

  stop(): void {
    this.running = false;
  }

  /** Leaves the group at every master (its queue locks are released with it). */
  async unregister(): Promise<void> {
    await Promise.all(
      this.o.brokerNames().map((name) =>
        this.o.brokers
          .client(name)
          ?.callMaster<'unregisterClient'>({ type: 'unregisterClient', group: this.o.group, clientId: this.o.clientId }, { tries: 2, deadline: Date.now() + this.o.requestTimeoutMs })
          .catch(() => undefined),
      ),
    );
  }

  private async pollLoop(): Promise<void> {
    let failures = 0;
    while (this.running) {
      const name = this.o.brokerNames()[0];
      const client = name === undefined ? undefined : this.o.brokers.client(name);
      if (name === undefined || client === undefined) {
        await delay(200);
        continue;
      }
      const known = this.viewFrom === name && this.view !== null ? { knownInstance: this.view.instance, knownVersion: this.view.version } : {};
      try {
        const r = await client.callMaster<'consumerList'>(
          { type: 'consumerList', group: this.o.group, ...known, waitMs: CONSUMER_LIST_WAIT_MS },
          { tries: 1, deadline: Date.now() + CONSUMER_LIST_WAIT_MS + this.o.requestTimeoutMs, timeoutMs: CONSUMER_LIST_WAIT_MS + this.o.requestTimeoutMs },
        );
        failures = 0;
        // A new master's view that waits out its grace: ask again shortly, not in a tight loop.
        if (!this.adopt(name, r.view)) await delay(200);
      } catch {
        if (!this.running) return;
        await delay(backoffMs(failures++, 100, 2000));
      }
    }
  }

  /** Takes a view of the membership master when it is another one, or a newer version; false
   *  when it was not taken because it comes from a new master still within its grace. */
  private adopt(from: string, view: ConsumerGroupView): boolean {
    if (from !== this.o.brokerNames()[0]) return true;
    const current = this.view;
    if (current !== null && this.viewFrom === from && current.instance !== view.instance) {
      if (this.pendingInstance?.instance !== view.instance) this.pendingInstance = { instance: view.instance, since: Date.now() };
      if (Date.now() - this.pendingInstance.since < (this.o.newMasterGraceMs ?? NEW_MASTER_VIEW_GRACE_MS)) return false;
    }
    const newer = current === null || this.viewFrom !== from || current.instance !== view.instance || view.version > current.version;
    if (!newer) return true;
    const changed = current === null || current.clientIds.join('\u0000') !== [...view.clientIds].sort().join('\u0000');
    this.view = { ...view, clientIds: [...view.clientIds].sort() };
    this.viewFrom = from;
    this.pendingInstance = null;
    if (changed) this.o.onChange();
    return true;
  }
}
