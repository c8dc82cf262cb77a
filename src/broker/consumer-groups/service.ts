// The master's consumer-group requests (heartbeat, unregisterClient, consumerList) over the
// registry: checks each request, drops the members of a connection when it closes, answers
// consumerList long polls when the group changes, sweeps silent members on a timer, and forgets
// every member when this replica stops being master (they heartbeat the new one within a second).
import type { ServerConnection } from '../../net/index.ts';
import { Role, type NodeId, type RaftStatus, type SoftState } from '../../raft/index.ts';
import {
  CLIENT_ID_PATTERN,
  CONSUMER_HEARTBEAT_TIMEOUT_MS,
  CONSUMER_LIST_WAIT_MS_MAX,
  RaftmqError,
  SUBSCRIPTION_COUNT_MAX,
  TAG_EXPRESSION_LENGTH_MAX,
  type ConsumerGroupRequest,
  type ConsumerGroupView,
  type Response,
  type Subscription,
} from '../../protocol/index.ts';
import { validateGroupName, validateTopicName } from '../commands.ts';
import type { PullResult } from '../state/types.ts';
import { ConsumerGroupRegistry } from './registry.ts';
import { suggestNodeIdOf, type SlaveReadSettings } from './slave-read.ts';
import { TagFilterCache } from './tag-filter.ts';

/** How often silent members are looked for (a member is dropped 3 s to 3.5 s after its last heartbeat). */
export const CONSUMER_SWEEP_INTERVAL_MS = 500;
/** consumerList long polls parked at once; beyond it one is answered at once. */
export const PARKED_CONSUMER_LISTS_MAX = 10_000;

type Req<T extends ConsumerGroupRequest['type']> = Extract<ConsumerGroupRequest, { type: T }>;

export interface ConsumerGroupServiceOptions {
  /** This replica: its role (a change of master term clears the registry) and, for slave-read
   *  suggestions, its Raft status. */
  readonly replica: { readonly role: SoftState; status(): RaftStatus };
  readonly nodeId: NodeId;
  /** The error a parked consumerList gets when this replica stops being master. */
  notMaster(): Error;
  /** Called once per master term, CONSUMER_HEARTBEAT_TIMEOUT_MS after it began: every live member
   *  has heartbeated this master by then, so the queue locks of any other holder (a member that
   *  died before or during the failover, which the old master never saw go) are released. */
  readonly releaseOrphanLocks?: (isMember: (group: string, clientId: string) => boolean) => void;
  /** Called on each clustering heartbeat: creates the group's retry topic if missing. */
  readonly ensureRetryTopic?: (group: string) => void;
  /** slaveReadEnable and what it needs; absent: pulls carry no suggestion. */
  readonly slaveRead?: SlaveReadSettings;
  readonly now?: () => number;
  readonly sweepIntervalMs?: number;
  readonly parkedMax?: number;
}

interface ParkedList {
  readonly conn: ServerConnection;
  readonly req: Req<'consumerList'>;
  readonly answer: (view: ConsumerGroupView | null) => void;
  readonly timer: NodeJS.Timeout;
}

export class ConsumerGroupService {
  readonly registry: ConsumerGroupRegistry;
  private readonly opts: ConsumerGroupServiceOptions;
  private readonly now: () => number;
  /** Parked consumerList polls by group. */
  private readonly parked = new Map<string, Set<ParkedList>>();
  private parkedCount = 0;
  /** Connections with our close listener (one per connection, however many requests it sends). */
  private readonly watched = new WeakSet<ServerConnection>();
  private readonly parkedByConn = new Map<number, Set<ParkedList>>();
  private timer: NodeJS.Timeout | null = null;
  private term = -1;
  /** When this replica became master in `term`, and whether that term's orphaned locks went. */
  private masterSince = 0;
  private orphansReleased = false;
  private readonly tagFilters = new TagFilterCache();

  constructor(opts: ConsumerGroupServiceOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.registry = new ConsumerGroupRegistry({ now: this.now });
    this.registry.onChange((group) => this.wake(group));
  }

  /** Starts the sweep timer (the owner stops it with stop()). */
  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.sweep(), this.opts.sweepIntervalMs ?? CONSUMER_SWEEP_INTERVAL_MS);
    this.timer.unref();
  }

  /** Stops the timer and answers every parked poll with the view it has. */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const set of [...this.parked.values()]) for (const p of [...set]) this.answer(p);
  }

  /** One sweep: the role check, silent members out, and once per term the orphaned locks. */
  sweep(): void {
    this.checkRole();
    this.registry.sweep();
    if (this.term !== -1 && !this.orphansReleased && this.now() - this.masterSince >= CONSUMER_HEARTBEAT_TIMEOUT_MS) {
      this.orphansReleased = true;
      this.opts.releaseOrphanLocks?.((group, clientId) => this.registry.members(group).some((m) => m.clientId === clientId));
    }
  }

  /** heartbeat, unregisterClient and consumerList, on a ready master (the server checked). */
  handle(req: Req<'heartbeat' | 'unregisterClient' | 'consumerList'>, conn: ServerConnection, reply: (resp: Response) => void, fail: (err: unknown) => void): void {
    if (req.type === 'heartbeat') return reply({ type: 'consumerGroup', id: req.id, view: this.heartbeat(req, conn) });
    if (req.type === 'unregisterClient') {
      this.unregister(req);
      return reply({ type: 'ok', id: req.id });
    }
    this.consumerList(req, conn, (view) => (view === null ? fail(this.opts.notMaster()) : reply({ type: 'consumerGroup', id: req.id, view })));
  }

  /** The tags a pull's `expression` accepts (null: all); BAD_REQUEST for a malformed one. */
  tagsOf(expression: unknown): ReadonlySet<string> | null {
    return this.tagFilters.tagsOf(expression);
  }

  /** A pull's answer with the replica its next pull should go to (slave-read.ts), if any. */
  withSuggestion(result: PullResult, queueId: number): PullResult & { suggestNodeId?: string } {
    const settings = this.opts.slaveRead;
    const role = this.opts.replica.role.role;
    if (settings === undefined || (role === Role.Leader && !settings.enable)) return result;
    const suggested = suggestNodeIdOf(settings, this.opts.nodeId, this.opts.replica.status(), { firstLogIndex: result.messages[0]?.logIndex ?? 0, queueId });
    return suggested === undefined ? result : { ...result, suggestNodeId: suggested };
  }

  heartbeat(req: Req<'heartbeat'>, conn: ServerConnection): ConsumerGroupView {
    validateGroupName(req.group);
    validateClientId(req.clientId);
    if (req.consumeModel !== 'CLUSTERING' && req.consumeModel !== 'BROADCASTING') throw badRequest('consumeModel must be CLUSTERING or BROADCASTING');
    const subscriptions = subscriptionsOf(req.subscriptions);
    this.checkRole();
    this.watch(conn);
    if (req.consumeModel === 'CLUSTERING') this.opts.ensureRetryTopic?.(req.group);
    return this.registry.heartbeat({ group: req.group, clientId: req.clientId, consumeModel: req.consumeModel, subscriptions, connectionId: conn.id, clientAddr: conn.remoteAddress });
  }

  unregister(req: Req<'unregisterClient'>): void {
    validateGroupName(req.group);
    validateClientId(req.clientId);
    this.checkRole();
    this.registry.unregister(req.group, req.clientId);
  }

  /** Answers at once, or parks the poll while the caller's view is current (until the group
   *  changes, waitMs passes or the connection closes). A parked poll is answered null when this
   *  replica stops being master (the server says NOT_MASTER: an empty view would look like a
   *  group without members). */
  consumerList(req: Req<'consumerList'>, conn: ServerConnection, answer: (view: ConsumerGroupView | null) => void): void {
    validateGroupName(req.group);
    if (req.knownInstance !== undefined && req.knownInstance !== null && typeof req.knownInstance !== 'string') throw badRequest('knownInstance must be a string');
    if (req.knownVersion !== undefined && req.knownVersion !== null && !Number.isSafeInteger(req.knownVersion)) throw badRequest('knownVersion must be an integer');
    const waitMs = Math.min(Math.max(0, Number(req.waitMs) || 0), CONSUMER_LIST_WAIT_MS_MAX);
    this.checkRole();
    const view = this.registry.view(req.group);
    const current = req.knownInstance === view.instance && req.knownVersion === view.version;
    if (!current || waitMs === 0 || this.parkedCount >= (this.opts.parkedMax ?? PARKED_CONSUMER_LISTS_MAX)) return answer(this.viewFor(req));
    const parked: ParkedList = { conn, req, answer, timer: setTimeout(() => this.answer(parked), waitMs) };
    let set = this.parked.get(req.group);
    if (set === undefined) this.parked.set(req.group, (set = new Set()));
    set.add(parked);
    let mine = this.parkedByConn.get(conn.id);
    if (mine === undefined) this.parkedByConn.set(conn.id, (mine = new Set()));
    mine.add(parked);
    this.parkedCount++;
    this.watch(conn);
  }

  /** Parked consumerList polls now. */
  get parkedLists(): number {
    return this.parkedCount;
  }

  private viewFor(req: Req<'consumerList'>): ConsumerGroupView {
    const view = this.registry.view(req.group);
    if (req.withConnections !== true) return view;
    const now = this.now();
    const connections = this.registry.members(req.group).map((m) => ({
      clientId: m.clientId,
      clientAddr: m.clientAddr,
      consumeModel: m.consumeModel,
      subscriptions: m.subscriptions,
      lastHeartbeatAgoMs: Math.max(0, now - m.lastHeartbeatMs),
    }));
    return { ...view, connections };
  }

  /** Clears the registry when this replica's master term is not the one its members joined in. */
  private checkRole(): void {
    const { role, term: raftTerm } = this.opts.replica.role;
    const term = role === Role.Leader ? raftTerm : -1;
    if (term === this.term) return;
    if (term === -1) for (const set of [...this.parked.values()]) for (const p of [...set]) if (this.unpark(p) && !p.conn.closed) p.answer(null);
    if (this.term !== -1) this.registry.clear();
    this.term = term;
    this.masterSince = this.now();
    this.orphansReleased = false;
  }

  private watch(conn: ServerConnection): void {
    if (this.watched.has(conn)) return;
    this.watched.add(conn);
    conn.onClose(() => {
      for (const p of [...(this.parkedByConn.get(conn.id) ?? [])]) this.unpark(p);
      this.registry.connectionClosed(conn.id);
    });
  }

  private wake(group: string): void {
    const set = this.parked.get(group);
    if (set === undefined) return;
    for (const p of [...set]) this.answer(p);
  }

  private answer(p: ParkedList): void {
    if (!this.unpark(p) || p.conn.closed) return;
    p.answer(this.viewFor(p.req));
  }

  private unpark(p: ParkedList): boolean {
    const set = this.parked.get(p.req.group);
    if (set === undefined || !set.delete(p)) return false;
    if (set.size === 0) this.parked.delete(p.req.group);
    const mine = this.parkedByConn.get(p.conn.id);
    mine?.delete(p);
    if (mine !== undefined && mine.size === 0) this.parkedByConn.delete(p.conn.id);
    this.parkedCount--;
    clearTimeout(p.timer);
    return true;
  }
}

function badRequest(message: string): RaftmqError {
  return new RaftmqError('BAD_REQUEST', message);
}

function validateClientId(clientId: unknown): asserts clientId is string {
  if (typeof clientId !== 'string' || !CLIENT_ID_PATTERN.test(clientId)) throw badRequest(`clientId must be 1..128 characters of [a-zA-Z0-9_.:@-], got ${JSON.stringify(String(clientId)).slice(0, 80)}`);
}

/** The subscriptions of a heartbeat, checked and copied (nothing else of the frame is kept). */
function subscriptionsOf(subs: unknown): Subscription[] {
  if (!Array.isArray(subs)) throw badRequest('subscriptions must be a list');
  if (subs.length > SUBSCRIPTION_COUNT_MAX) throw badRequest(`a heartbeat declares at most ${SUBSCRIPTION_COUNT_MAX} subscriptions, got ${subs.length}`);
  return subs.map((s: unknown) => {
    const { topic, expression } = (s ?? {}) as { topic?: unknown; expression?: unknown };
    validateTopicName(topic);
    if (typeof expression !== 'string' || expression.length > TAG_EXPRESSION_LENGTH_MAX) throw badRequest(`the expression of ${topic} must be a string of at most ${TAG_EXPRESSION_LENGTH_MAX} characters`);
    return { topic, expression };
  });
}
