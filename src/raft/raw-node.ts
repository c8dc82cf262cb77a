// RaftNode: the driver-facing API (etcd's RawNode). Skeleton; the real core follows.

import type { Message, NodeId, ProposeResult, RaftConfig, RaftNodeApi, RaftStatus, Ready, Storage } from './types.ts';
import { NONE, Role } from './types.ts';

export class RaftNode implements RaftNodeApi {
  constructor(
    private readonly config: RaftConfig,
    private readonly storage: Storage,
  ) {}
  tick(): void {}
  step(_message: Message): void {}
  propose(_data: readonly Uint8Array[]): ProposeResult {
    return { ok: false, code: 'NOT_LEADER', leaderHint: NONE };
  }
  transferLeadership(_to: NodeId): boolean {
    return false;
  }
  reportUnreachable(_peer: NodeId): void {}
  hasReady(): boolean {
    return false;
  }
  ready(): Ready {
    return { softState: null, hardState: null, mustSync: false, entries: [], messages: [], persistedMessages: [], committedEntries: [] };
  }
  advance(_ready: Ready): void {}
  status(): RaftStatus {
    const hs = this.storage.initialHardState();
    return { id: this.config.id, role: Role.Follower, term: hs.term, vote: hs.vote, leaderId: NONE, commit: hs.commit, applied: 0, lastIndex: this.storage.lastIndex(), progress: {}, transferee: NONE };
  }
}
