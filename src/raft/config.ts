// Checks of a RaftConfig: a bad one is a TypeError at construction, never a misbehaving node.

import type { RaftConfig } from './types.ts';
import { NONE } from './types.ts';

export function validateConfig(c: RaftConfig): void {
  const check = (ok: boolean, what: string) => {
    if (!ok) throw new TypeError(`RaftConfig: ${what}`);
  };
  check(typeof c.id === 'string' && c.id !== NONE, 'id must be a non-empty string');
  check(new Set(c.peers).size === c.peers.length, 'peers must be unique');
  const learners = c.learners ?? [];
  check(new Set([...c.peers, ...learners]).size === c.peers.length + learners.length, 'learners must be unique and not peers');
  check(c.promoteLagMax === undefined || (Number.isInteger(c.promoteLagMax) && c.promoteLagMax >= 0), 'promoteLagMax must be an integer >= 0');
  check(Number.isInteger(c.heartbeatTicks) && c.heartbeatTicks >= 1, 'heartbeatTicks must be >= 1');
  check(Number.isInteger(c.electionTicks) && c.electionTicks > c.heartbeatTicks, 'electionTicks must exceed heartbeatTicks');
  check(Number.isInteger(c.maxEntriesPerMessage) && c.maxEntriesPerMessage >= 1, 'maxEntriesPerMessage must be >= 1');
  check(c.maxBytesPerMessage >= 1, 'maxBytesPerMessage must be >= 1');
  check(Number.isInteger(c.maxInflightPerFollower) && c.maxInflightPerFollower >= 1, 'maxInflightPerFollower must be >= 1');
  check(c.maxInflightBytesPerFollower >= 1, 'maxInflightBytesPerFollower must be >= 1');
  check(c.maxUncommittedBytes >= 1, 'maxUncommittedBytes must be >= 1');
  check(Number.isInteger(c.transferTimeoutTicks) && c.transferTimeoutTicks >= 1, 'transferTimeoutTicks must be >= 1');
  check(Number.isInteger(c.fastElectionTicksMax) && c.fastElectionTicksMax >= 0, 'fastElectionTicksMax must be >= 0');
  // preferredLeader is checked at use (it must be a voter then): peers are only the seed.
  check(typeof c.preferredLeader === 'string', 'preferredLeader must be a string');
}
