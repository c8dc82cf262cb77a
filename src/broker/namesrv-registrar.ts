// Registers this replica with every NameServer of namesrvAddr (RocketMQ's registerBrokerAll):
// its group, brokerId (0 while MASTER), client address, role, Raft term and topics. When:
// - at once on a role change (role, brokerId or term): clients fail over when a new master
//   registers, so this waits for neither the period nor a debounce;
// - soon after the topic table changes (created, grown, deleted);
// - every registerNameServerPeriod otherwise (the NameServer drops a replica silent for 120 s);
// - sooner again after a failure (with backoff), so a NameServer restarted empty is refilled.
// Each NameServer has its own connection and its own registration in flight: one that is down
// or slow delays no other. A failing NameServer is logged once when it starts failing and once
// when it recovers. A clean stop unregisters (best effort, bounded).
import { Connection, backoffMs, parseAddr } from '../net/index.ts';
import { PERM_READ_WRITE, sameTopicConfigs, type BrokerRegistration, type TopicConfigInfo } from '../protocol/index.ts';
import type { NodeId } from '../raft/index.ts';
import type { BrokerConfig } from './config.ts';
import type { Logger } from './logger.ts';
import type { Replica } from './replica.ts';
import { brokerIdOf, brokerRoleOf, type BrokerRole } from './role.ts';
import type { BrokerStateMachine } from './state-machine.ts';

/** How often the role is sampled when the sources give no role-change event (tests); with one
 *  (a real replica), a role change registers at once and the timer only looks at the topics. */
export const ROLE_POLL_MS = 10;
/** Fewest ms between two looks at the topic table (the debounce of topic changes). */
export const TOPICS_CHECK_MS_MIN = 50;
/** A look at the topic table costs O(topics): the next waits this many times its cost, so the
 *  looks take at most ~1% of a core even with thousands of topics. */
const TOPICS_CHECK_COST_FACTOR = 100;
/** One registration's timeout. */
const REGISTER_TIMEOUT_MS = 3000;
/** Retries after a failed registration: from this, doubling, to at most the period. */
const RETRY_MS_MIN = 500;
const RETRY_MS_MAX = 5000;
/** How long a stop waits for the unregistrations. */
export const UNREGISTER_WAIT_MS = 1000;

/** The replica's state the registration reports, read when it is sent. */
export interface RegistrarSources {
  role(): { readonly role: BrokerRole; readonly brokerId: number; readonly term: number };
  /** Calls `listener` after every role change, when the replica can say so. */
  onRoleChange?(listener: () => void): void;
  /** The topic table can only have changed when the applied index moved. */
  appliedIndex(): number;
  topics(): TopicConfigInfo[];
}

export interface NamesrvRegistrarOptions {
  readonly namesrvAddrs: readonly string[];
  readonly periodMs: number;
  readonly clusterName: string;
  readonly brokerName: string;
  readonly nodeId: NodeId;
  /** host:port clients reach this replica at. */
  readonly brokerAddr: string;
  readonly sources: RegistrarSources;
  readonly logger: Logger;
}

/** The registrar of a replica, wired to its driver and state machine; inert when namesrvAddr is empty. */
export function namesrvRegistrar(config: BrokerConfig, replica: Replica, stateMachine: BrokerStateMachine, logger: Logger): NamesrvRegistrar {
  const seedPeers = config.dLegerPeers.map((p) => p.id);
  return new NamesrvRegistrar({
    namesrvAddrs: config.namesrvAddr,
    periodMs: config.registerNameServerPeriod,
    clusterName: config.brokerClusterName,
    brokerName: config.brokerName,
    nodeId: config.dLegerSelfId,
    brokerAddr: `${config.brokerIP1}:${config.listenPort}`,
    sources: {
      role: () => {
        const { role, term } = replica.role;
        return { role: brokerRoleOf(role), brokerId: brokerIdOf(role, config.dLegerSelfId, seedPeers), term };
      },
      onRoleChange: (listener) => replica.onRoleChange(listener),
      appliedIndex: () => stateMachine.appliedIndex,
      topics: () => stateMachine.listTopics().map(({ topic, queues }) => ({ topic, readQueueNums: queues, writeQueueNums: queues, perm: PERM_READ_WRITE })),
    },
    logger,
  });
}

export class NamesrvRegistrar {
  private readonly links: NamesrvLink[];
  private latest: BrokerRegistration | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private periodTimer: NodeJS.Timeout | null = null;
  private topicsCheckedAt = -Infinity;
  private topicsCheckGapMs = TOPICS_CHECK_MS_MIN;
  private topicsAppliedIndex = -1;
  private stopping: Promise<void> | null = null;

  constructor(private readonly opts: NamesrvRegistrarOptions) {
    this.links = opts.namesrvAddrs.map((addr) => new NamesrvLink(addr, () => this.latest, opts));
  }

  /** The registration last sent (null before the first). */
  get registration(): BrokerRegistration | null {
    return this.latest;
  }

  /** Registers at once, then on changes and every period until stop(). */
  start(): void {
    if (this.links.length === 0 || this.pollTimer !== null || this.stopping !== null) return;
    this.opts.logger.info({ namesrvAddr: this.opts.namesrvAddrs, periodMs: this.opts.periodMs }, 'registering with the NameServers');
    this.registerAll();
    const roleEvents = this.opts.sources.onRoleChange !== undefined;
    this.opts.sources.onRoleChange?.(() => {
      if (this.stopping === null && this.roleMoved()) this.registerAll();
    });
    this.pollTimer = setInterval(() => this.poll(), roleEvents ? TOPICS_CHECK_MS_MIN : ROLE_POLL_MS);
    this.periodTimer = setInterval(() => this.registerAll(), this.opts.periodMs);
  }

  /** Stops registering and unregisters from every NameServer (waits at most UNREGISTER_WAIT_MS). */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.pollTimer !== null) clearInterval(this.pollTimer);
      if (this.periodTimer !== null) clearInterval(this.periodTimer);
      const { clusterName, brokerName, nodeId } = this.opts;
      await Promise.all(this.links.map((l) => l.unregister({ type: 'unregisterBroker', clusterName, brokerName, nodeId })));
    })();
    return this.stopping;
  }

  /** Registers now with the replica's current role and topics, on every NameServer at once. */
  registerAll(topics?: TopicConfigInfo[]): void {
    if (this.stopping !== null) return;
    const { role, brokerId, term } = this.opts.sources.role();
    if (topics === undefined) {
      this.topicsAppliedIndex = this.opts.sources.appliedIndex();
      topics = this.opts.sources.topics();
    }
    const { clusterName, brokerName, nodeId, brokerAddr } = this.opts;
    this.latest = { clusterName, brokerName, brokerId, nodeId, brokerAddr, role, term, topics };
    for (const link of this.links) link.register();
  }

  /** Registers at once when the role moved, or (at most every few tens of ms) the topics did. */
  /** Whether role, brokerId or term differ from the registration last sent. */
  private roleMoved(): boolean {
    const last = this.latest;
    const now = this.opts.sources.role();
    return last === null || now.role !== last.role || now.brokerId !== last.brokerId || now.term !== last.term;
  }

  private poll(): void {
    const last = this.latest;
    if (last === null || this.roleMoved()) return this.registerAll();
    const at = performance.now();
    if (at - this.topicsCheckedAt < this.topicsCheckGapMs) return;
    const applied = this.opts.sources.appliedIndex();
    if (applied === this.topicsAppliedIndex) return;
    // Read the index first: a change applied after it is seen by the next look.
    this.topicsAppliedIndex = applied;
    const topics = this.opts.sources.topics();
    this.topicsCheckedAt = performance.now();
    this.topicsCheckGapMs = Math.max(TOPICS_CHECK_MS_MIN, TOPICS_CHECK_COST_FACTOR * (this.topicsCheckedAt - at));
    if (!sameTopicConfigs(topics, last.topics)) this.registerAll(topics);
  }
}

/** One NameServer: its connection, at most one registration in flight (a newer one waits and
 *  then sends what is latest), retries after a failure, and whether it is failing (for the log). */
class NamesrvLink {
  private readonly conn: Connection;
  private inFlight = false;
  private again = false;
  private failing = false;
  private answered = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly addr: string,
    private readonly latest: () => BrokerRegistration | null,
    private readonly opts: NamesrvRegistrarOptions,
  ) {
    const { host, port } = parseAddr(addr);
    this.conn = new Connection({ host, port, requestTimeoutMs: REGISTER_TIMEOUT_MS });
  }

  register(): void {
    if (this.closed) return;
    if (this.inFlight) {
      this.again = true;
      return;
    }
    const reg = this.latest();
    if (reg === null) return;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.inFlight = true;
    this.conn.request({ type: 'registerBroker', broker: reg }).then(
      () => this.succeeded(),
      (err: unknown) => this.failed(err),
    ).finally(() => {
      this.inFlight = false;
      if (this.again) {
        this.again = false;
        this.register();
      }
    });
  }

  async unregister(frame: { type: 'unregisterBroker'; clusterName: string; brokerName: string; nodeId: string }): Promise<void> {
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    // Only where the NameServer was answering: a down one would hold the stop for nothing.
    if (!this.failing) await this.conn.request(frame, { timeoutMs: UNREGISTER_WAIT_MS }).catch(() => undefined);
    await this.conn.close();
  }

  private succeeded(): void {
    this.failures = 0;
    if (!this.answered) {
      this.answered = true;
      if (!this.failing) this.opts.logger.info({ namesrv: this.addr }, 'registered with the NameServer');
    }
    if (!this.failing) return;
    this.failing = false;
    this.opts.logger.info({ namesrv: this.addr }, 'registration with the NameServer works again');
  }

  private failed(err: unknown): void {
    if (this.closed) return;
    if (!this.failing) {
      this.failing = true;
      this.opts.logger.warn({ namesrv: this.addr, err: (err as Error).message }, 'registration with the NameServer failed; retrying until it answers (logged again when it does)');
    }
    if (this.retryTimer !== null) return;
    const waitMs = backoffMs(this.failures++, RETRY_MS_MIN, Math.min(RETRY_MS_MAX, this.opts.periodMs));
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.register();
    }, waitMs);
  }
}
