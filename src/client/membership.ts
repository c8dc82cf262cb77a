// Membership changes as an operator makes them (issue 21): the checks of a change's input before
// it is sent, and addMember's wait for a new learner to catch up before it is promoted.
//
// A change is a write that must not be applied twice: Admin sends it with `retryUnknown: false`
// (cluster.ts), so a try whose outcome is unknown (a timeout, a connection lost after the
// request left) ends the call with `outcome: 'unknown'`; what is in force then is read with
// members(). The loops here resolve such an outcome by reading the configuration, never by
// sending the change again.
import { type MemberInfo, type MembersInfo, RaftmqError, isRetryable, outcomeOf } from '../protocol/index.ts';
import { delay, parseAddr } from '../net/index.ts';

/** A node id as dLegerPeers spells it (the broker's config check: [A-Za-z0-9_], 1..64). */
export const MEMBER_ID_PATTERN = /^[A-Za-z0-9_]{1,64}$/;
/** How often addMember reads the learner's progress while it catches up. */
export const MEMBER_POLL_MS = 200;
/** Promotion is asked again at least this often while the learner lags (and at once when the
 *  master reports lag 0). */
export const MEMBER_PROMOTE_RETRY_MS = 1000;
/** addMember's default wait for the learner to catch up. */
export const MEMBER_CATCH_UP_TIMEOUT_MS_DEFAULT = 10 * 60_000;
/**
 * A MEMBER_CHANGE_REFUSED promotion whose message says the learner is still catching up: the one
 * refusal addMember waits out (every other refusal is final). Matched on the message because the
 * wire has no finer code for it; the master's wording must keep one of these words.
 */
export const LEARNER_LAGS_PATTERN = /\blag|\bbehind\b|catch(?:ing|es)? up/i;

export interface MemberChangeOptions {
  /** Skip the master's refusal of a change that would leave the group without a live quorum. */
  readonly force?: boolean;
}

export interface MemberProgress {
  /** As the master sees the learner: the last index it holds and how far it is behind (null
   *  when the answer was not the master's). */
  readonly match: number | null;
  readonly lag: number | null;
}

export interface AddMemberOptions extends MemberChangeOptions {
  /** Stop once it is a learner (default: wait until it has caught up, then promote it). */
  readonly learner?: boolean;
  /** Called with the learner's progress every MEMBER_POLL_MS while it catches up. */
  readonly onProgress?: (progress: MemberProgress) => void;
  /** How long to wait for the learner to catch up (default MEMBER_CATCH_UP_TIMEOUT_MS_DEFAULT). */
  readonly timeoutMs?: number;
}

/** Throws a TypeError naming what is wrong with a member id. */
export function checkMemberId(nodeId: unknown): asserts nodeId is string {
  if (typeof nodeId !== 'string' || !MEMBER_ID_PATTERN.test(nodeId)) {
    throw new TypeError(`node id ${JSON.stringify(nodeId)?.slice(0, 80)} is not valid: expected 1..64 characters of [A-Za-z0-9_], as in dLegerPeers (e.g. n3)`);
  }
}

/** Throws a TypeError naming what is wrong with a new member's addresses. */
export function checkMemberAddrs(peerAddr: unknown, clientAddr: unknown): void {
  for (const [name, addr] of [['peer address', peerAddr], ['client address', clientAddr]] as const) {
    if (typeof addr !== 'string') throw new TypeError(`${name} must be a host:port string, got ${typeof addr}`);
    try {
      parseAddr(addr);
    } catch {
      throw new TypeError(`${name} ${JSON.stringify(addr).slice(0, 80)} is not host:port (port 1..65535)`);
    }
  }
  if (peerAddr === clientAddr) throw new TypeError(`peer address and client address are both ${String(peerAddr)}: a replica listens on two ports`);
}

export function memberOf(info: MembersInfo, nodeId: string): MemberInfo | undefined {
  return info.members.find((m) => m.nodeId === nodeId);
}

/** What one failed call says about its change: applied perhaps, or certainly not. */
export function changeOutcome(err: unknown): 'unknown' | 'not-stored' {
  return err instanceof RaftmqError && err.outcome !== undefined ? err.outcome : outcomeOf(err);
}

export function isLearnerLagging(err: unknown): boolean {
  return err instanceof RaftmqError && err.code === 'MEMBER_CHANGE_REFUSED' && LEARNER_LAGS_PATTERN.test(err.message);
}

/** The calls the promotion loop makes (Admin's). */
export interface MemberCalls {
  members(): Promise<MembersInfo>;
  promote(nodeId: string, options: MemberChangeOptions): Promise<MembersInfo>;
}

/**
 * Promotes learner `nodeId`, asking again while the master refuses because it lags, until
 * `deadline` (ms since the epoch). Its progress is read every MEMBER_POLL_MS. Ends with the
 * configuration that has it as a voter; throws the first refusal that is not a lag, TIMEOUT at
 * the deadline (naming the lag; the learner stays and keeps catching up), or an unknown outcome
 * that reading the configuration does not settle.
 */
export async function promoteWhenCaughtUp(
  calls: MemberCalls,
  nodeId: string,
  deadline: number,
  options: AddMemberOptions,
): Promise<MembersInfo> {
  const started = Date.now();
  let progress: MemberProgress = { match: null, lag: null };
  let refusal = '';
  let triedAt = -Infinity;
  for (;;) {
    if (progress.lag === 0 || Date.now() - triedAt >= MEMBER_PROMOTE_RETRY_MS) {
      triedAt = Date.now();
      try {
        return await calls.promote(nodeId, options);
      } catch (err) {
        if (isLearnerLagging(err)) refusal = (err as Error).message;
        else if (changeOutcome(err) === 'unknown') return settleUnknown(calls, nodeId, err);
        else if (!isRetryable(err)) throw err;
        // else: no master for now (a failover): the next round asks again
      }
    }
    if (Date.now() + MEMBER_POLL_MS >= deadline) throw stillLagging(nodeId, Date.now() - started, progress, refusal);
    await delay(MEMBER_POLL_MS);
    const info = await calls.members().catch(() => null); // a failover meanwhile: the next poll
    if (info === null) continue;
    const member = memberOf(info, nodeId);
    if (member === undefined) throw new RaftmqError('MEMBER_CHANGE_REFUSED', `${nodeId} is no longer a member (removed while it caught up)`);
    if (member.kind === 'VOTER') return info; // promoted meanwhile (by another admin)
    progress = { match: member.match, lag: member.lag };
    options.onProgress?.(progress);
  }
}

/** After a promotion of unknown outcome: the configuration if it has `nodeId` as a voter, else
 *  the error (the promotion may still be applied later). */
async function settleUnknown(calls: MemberCalls, nodeId: string, err: unknown): Promise<MembersInfo> {
  const info = await calls.members().catch(() => null);
  if (info !== null && memberOf(info, nodeId)?.kind === 'VOTER') return info;
  throw err;
}

function stillLagging(nodeId: string, waitedMs: number, progress: MemberProgress, refusal: string): RaftmqError {
  const where = progress.lag === null ? 'its lag unknown' : `lag ${progress.lag} entries (match ${progress.match})`;
  const why = refusal ? `; the master said: ${refusal}` : '';
  return new RaftmqError(
    'TIMEOUT',
    `${nodeId} is still a learner after ${waitedMs} ms, ${where}${why}; it stays in the group and keeps catching up: promote it later`,
    { outcome: 'not-stored' },
  );
}
