// The live members of each consumer group, in this master's memory only (RocketMQ's
// ConsumerManager): heartbeats add and refresh members, silence, a closed connection or an
// unregister drops them. Not replicated: members heartbeat every master, so a new master knows
// them again within one heartbeat interval. No clock of its own: `now` is injected and the owner
// calls sweep() on a timer, so tests drive time.
import { randomBytes } from 'node:crypto';
import {
  CONSUMER_GROUP_COUNT_MAX,
  CONSUMER_HEARTBEAT_TIMEOUT_MS,
  GROUP_MEMBER_COUNT_MAX,
  RaftmqError,
  type ConsumeModel,
  type ConsumerGroupView,
  type Subscription,
} from '../../protocol/index.ts';

/** Listeners of one kind a registry keeps (a handful of owners subscribe, at start). */
const LISTENER_COUNT_MAX = 16;

/** One heartbeat as the server checked it. `connectionId` names the connection it came on. */
export interface Heartbeat {
  readonly group: string;
  readonly clientId: string;
  readonly consumeModel: ConsumeModel;
  readonly subscriptions: readonly Subscription[];
  readonly connectionId: number;
  /** host:port of the member's connection, for consumerConnection. */
  readonly clientAddr: string;
}

/** A live member as the registry keeps it. */
export interface Member {
  readonly clientId: string;
  readonly consumeModel: ConsumeModel;
  readonly subscriptions: readonly Subscription[];
  readonly connectionId: number;
  readonly clientAddr: string;
  readonly lastHeartbeatMs: number;
}

interface Group {
  readonly members: Map<string, Member>;
  version: number;
}

export interface RegistryOptions {
  now(): number;
  /** Silence after which a member is dropped (default CONSUMER_HEARTBEAT_TIMEOUT_MS). */
  readonly heartbeatTimeoutMs?: number;
  readonly groupMemberCountMax?: number;
  readonly groupCountMax?: number;
  /** The instance id (default: random), so a client tells this registry's versions apart. */
  readonly instance?: string;
}

export class ConsumerGroupRegistry {
  private readonly groups = new Map<string, Group>();
  /** Member keys by connection, so a closed connection drops its members at once. */
  private readonly byConnection = new Map<number, Set<string>>();
  private readonly goneListeners: ((group: string, clientId: string) => void)[] = [];
  private readonly changeListeners: ((group: string) => void)[] = [];
  private readonly opts: Required<Omit<RegistryOptions, 'instance'>>;
  private instanceId: string;
  /** Versions come from one counter over every group: a group emptied, forgotten and joined
   *  again never repeats a version a client saw. */
  private versionCounter = 0;

  constructor(opts: RegistryOptions) {
    this.opts = {
      now: opts.now,
      heartbeatTimeoutMs: opts.heartbeatTimeoutMs ?? CONSUMER_HEARTBEAT_TIMEOUT_MS,
      groupMemberCountMax: opts.groupMemberCountMax ?? GROUP_MEMBER_COUNT_MAX,
      groupCountMax: opts.groupCountMax ?? CONSUMER_GROUP_COUNT_MAX,
    };
    this.instanceId = opts.instance ?? newInstance();
  }

  get instance(): string {
    return this.instanceId;
  }

  /** Groups with at least one member. */
  get groupCount(): number {
    return this.groups.size;
  }

  /** A member left, died or was dropped (not called by clear(): those members live on and
   *  register with the new master). Used to release a dead member's ordered-consumption locks. */
  onMemberGone(listener: (group: string, clientId: string) => void): void {
    if (this.goneListeners.length >= LISTENER_COUNT_MAX) throw new Error('consumer groups: too many onMemberGone listeners');
    this.goneListeners.push(listener);
  }

  /** The member set (or a member's subscriptions) of `group` changed: its version moved. */
  onChange(listener: (group: string) => void): void {
    if (this.changeListeners.length >= LISTENER_COUNT_MAX) throw new Error('consumer groups: too many onChange listeners');
    this.changeListeners.push(listener);
  }

  /** Adds or refreshes a member; OVERLOADED beyond the group or member limits. Returns the view. */
  heartbeat(hb: Heartbeat): ConsumerGroupView {
    let group = this.groups.get(hb.group);
    if (group === undefined) {
      if (this.groups.size >= this.opts.groupCountMax) {
        throw new RaftmqError('OVERLOADED', `this master keeps members of ${this.opts.groupCountMax} consumer groups already; group ${hb.group} is refused`);
      }
      group = { members: new Map(), version: 0 };
      this.groups.set(hb.group, group);
    }
    const old = group.members.get(hb.clientId);
    if (old === undefined && group.members.size >= this.opts.groupMemberCountMax) {
      throw new RaftmqError('OVERLOADED', `consumer group ${hb.group} has ${this.opts.groupMemberCountMax} members already; ${hb.clientId} is refused`);
    }
    const member: Member = {
      clientId: hb.clientId,
      consumeModel: hb.consumeModel,
      subscriptions: hb.subscriptions,
      connectionId: hb.connectionId,
      clientAddr: hb.clientAddr,
      lastHeartbeatMs: this.opts.now(),
    };
    group.members.set(hb.clientId, member);
    const key = memberKey(hb.group, hb.clientId);
    if (old !== undefined && old.connectionId !== hb.connectionId) this.unindex(old.connectionId, key);
    if (old === undefined || old.connectionId !== hb.connectionId) this.index(hb.connectionId, key);
    if (old === undefined || old.consumeModel !== hb.consumeModel || !sameSubscriptions(old.subscriptions, hb.subscriptions)) this.changed(hb.group, group);
    return this.view(hb.group);
  }

  /** Drops a member that says it leaves; false when it was not a member. */
  unregister(group: string, clientId: string): boolean {
    return this.drop(group, clientId);
  }

  /** Drops every member that heartbeated on this connection. */
  connectionClosed(connectionId: number): void {
    const keys = this.byConnection.get(connectionId);
    if (keys === undefined) return;
    for (const key of [...keys]) {
      const [group, clientId] = splitKey(key);
      this.drop(group, clientId);
    }
    this.byConnection.delete(connectionId);
  }

  /** Drops every member silent for longer than the heartbeat timeout. */
  sweep(): void {
    const deadline = this.opts.now() - this.opts.heartbeatTimeoutMs;
    for (const [name, group] of [...this.groups]) {
      for (const m of [...group.members.values()]) if (m.lastHeartbeatMs < deadline) this.drop(name, m.clientId);
    }
  }

  /** Forgets every member and starts a new instance (this replica stopped being master). No
   *  onMemberGone: the members are alive and move to the new master. */
  clear(): void {
    const names = [...this.groups.keys()];
    this.groups.clear();
    this.byConnection.clear();
    this.instanceId = newInstance();
    this.versionCounter = 0;
    for (const name of names) this.emitChange(name);
  }

  /** The group's live members, sorted by client id (version 0 and none for an unknown group). */
  view(group: string): ConsumerGroupView {
    const g = this.groups.get(group);
    const clientIds = g === undefined ? [] : [...g.members.keys()].sort();
    return { group, instance: this.instanceId, version: g?.version ?? 0, clientIds };
  }

  /** The group's members with what they declared, sorted by client id. */
  members(group: string): Member[] {
    const g = this.groups.get(group);
    return g === undefined ? [] : [...g.members.values()].sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
  }

  /** Member counts by group (for the metrics gauge), at most `max` groups. */
  memberCounts(max: number): { group: string; members: number }[] {
    const out: { group: string; members: number }[] = [];
    for (const [group, g] of this.groups) {
      if (out.length >= max) break;
      out.push({ group, members: g.members.size });
    }
    return out;
  }

  private drop(groupName: string, clientId: string): boolean {
    const group = this.groups.get(groupName);
    const m = group?.members.get(clientId);
    if (group === undefined || m === undefined) return false;
    group.members.delete(clientId);
    this.unindex(m.connectionId, memberKey(groupName, clientId));
    if (group.members.size === 0) this.groups.delete(groupName);
    this.changed(groupName, group);
    for (const l of this.goneListeners) l(groupName, clientId);
    return true;
  }

  private changed(name: string, group: Group): void {
    group.version = ++this.versionCounter;
    this.emitChange(name);
  }

  private emitChange(name: string): void {
    for (const l of this.changeListeners) l(name);
  }

  private index(connectionId: number, key: string): void {
    let keys = this.byConnection.get(connectionId);
    if (keys === undefined) this.byConnection.set(connectionId, (keys = new Set()));
    keys.add(key);
  }

  private unindex(connectionId: number, key: string): void {
    const keys = this.byConnection.get(connectionId);
    if (keys === undefined) return;
    keys.delete(key);
    if (keys.size === 0) this.byConnection.delete(connectionId);
  }
}

function newInstance(): string {
  return randomBytes(8).toString('hex');
}

/** Group names never hold NUL (TOPIC_NAME_PATTERN), so it separates the two. */
function memberKey(group: string, clientId: string): string {
  return `${group}\0${clientId}`;
}

function splitKey(key: string): [string, string] {
  const i = key.indexOf('\0');
  return [key.slice(0, i), key.slice(i + 1)];
}

function sameSubscriptions(a: readonly Subscription[], b: readonly Subscription[]): boolean {
  return a.length === b.length && a.every((s, i) => s.topic === b[i]!.topic && s.expression === b[i]!.expression);
}
