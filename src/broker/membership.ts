// Who is in the group, and where to reach them. The Raft core decides the configuration (voters
// and learners, a log entry: see src/raft); the broker keeps each member's addresses in the
// entry's opaque context, so every replica learns a new member's addresses from the same entry
// that adds it, and the addresses are replicated, snapshotted and checkpointed with it.
import type { ConfChangeEntry, ConfState, NodeId } from '../raft/index.ts';

export interface MemberAddress {
  readonly id: NodeId;
  /** host:port of its Raft listener. */
  readonly peerAddr: string;
  /** host:port of its client listener. */
  readonly clientAddr: string;
}

/** A configuration in force from log index `index` (0: the seed, from dLegerPeers), with the
 *  addresses of its members. */
export interface Membership {
  readonly index: number;
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  readonly addresses: readonly MemberAddress[];
  /** The change that made it (absent for the seed). */
  readonly change?: { readonly op: ConfChangeEntry['op']; readonly node: NodeId };
}

/** Members a configuration entry may name: a group is 1..7 voters in dLegerPeers, and a few
 *  learners beside them. */
export const MEMBER_COUNT_MAX = 16;
/** Node ids as dLegerPeers takes them. */
export const NODE_ID_PATTERN = /^[A-Za-z0-9_]{1,64}$/;
const ADDR_PATTERN = /^[A-Za-z0-9_.:[\]-]{1,253}:\d{1,5}$/;

/** Why `addr` is not a usable host:port, or null. */
export function addressProblem(addr: unknown): string | null {
  if (typeof addr !== 'string' || !ADDR_PATTERN.test(addr)) return `${JSON.stringify(String(addr)).slice(0, 80)} is not host:port`;
  const port = Number(addr.slice(addr.lastIndexOf(':') + 1));
  if (port < 1 || port > 65535) return `port ${port} is not in 1..65535`;
  return null;
}

/** host and port of a checked address. */
export function splitAddress(addr: string): { host: string; port: number } {
  const at = addr.lastIndexOf(':');
  return { host: addr.slice(0, at), port: Number(addr.slice(at + 1)) };
}

/** The context a configuration entry carries: every member's addresses. */
export function encodeMemberContext(addresses: readonly MemberAddress[]): string {
  const members: Record<string, { peer: string; client: string }> = {};
  for (const a of [...addresses].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))) members[a.id] = { peer: a.peerAddr, client: a.clientAddr };
  return JSON.stringify({ members });
}

/** The addresses in a configuration entry's context, or why it is malformed. */
export function decodeMemberContext(context: string): MemberAddress[] | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(context);
  } catch {
    return 'the member context is not JSON';
  }
  const members = (parsed as { members?: unknown } | null)?.members;
  if (members === null || typeof members !== 'object' || Array.isArray(members)) return 'the member context has no members object';
  const out: MemberAddress[] = [];
  for (const [id, v] of Object.entries(members as Record<string, unknown>)) {
    if (!NODE_ID_PATTERN.test(id)) return `member id ${JSON.stringify(id).slice(0, 80)} is malformed`;
    const { peer, client } = (v ?? {}) as { peer?: unknown; client?: unknown };
    const problem = addressProblem(peer) ?? addressProblem(client);
    if (problem !== null) return `member ${id}: ${problem}`;
    out.push({ id, peerAddr: peer as string, clientAddr: client as string });
  }
  if (out.length > MEMBER_COUNT_MAX) return `more than ${MEMBER_COUNT_MAX} members`;
  return out;
}

/** The membership a configuration entry at `index` sets. Addresses are kept for members only. */
export function membershipOf(index: number, entry: ConfChangeEntry): Membership | string {
  const addresses = decodeMemberContext(entry.context);
  if (typeof addresses === 'string') return addresses;
  const ids = new Set([...entry.conf.voters, ...entry.conf.learners]);
  return {
    index,
    voters: [...entry.conf.voters],
    learners: [...entry.conf.learners],
    addresses: addresses.filter((a) => ids.has(a.id)),
    change: { op: entry.op, node: entry.node },
  };
}

/** Whether `id` is a voter or a learner of `conf`. */
export function isMember(conf: ConfState, id: NodeId): boolean {
  return conf.voters.includes(id) || conf.learners.includes(id);
}

/**
 * Where each member is: the seed (dLegerPeers and clientPeers), then the addresses of every
 * configuration entry seen, appended or applied (a new member is dialled as soon as the master
 * appends the entry that adds it, before it commits). Later entries win.
 */
export class MemberDirectory {
  private readonly byId = new Map<NodeId, MemberAddress>();
  /** Index of the newest configuration entry noted (0: the seed alone). */
  private newestIndex = 0;

  constructor(seed: readonly MemberAddress[]) {
    for (const a of seed) this.byId.set(a.id, a);
  }

  /** The newest configuration entry noted (0: none; the seed is in force). */
  get configIndex(): number {
    return this.newestIndex;
  }

  note(m: Membership): void {
    for (const a of m.addresses) this.byId.set(a.id, a);
    if (m.index > this.newestIndex) this.newestIndex = m.index;
  }

  get(id: NodeId): MemberAddress | undefined {
    return this.byId.get(id);
  }

  clientAddr(id: NodeId): string {
    return this.byId.get(id)?.clientAddr ?? '';
  }

  /** The addresses of `ids` that are known. */
  addressesOf(ids: Iterable<NodeId>): MemberAddress[] {
    const out: MemberAddress[] = [];
    for (const id of ids) {
      const a = this.byId.get(id);
      if (a !== undefined) out.push(a);
    }
    return out;
  }
}
