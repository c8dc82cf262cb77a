// A clustering group's retry topic is created when its members first heartbeat (as RocketMQ's
// broker does), so members route it from their first rebalance instead of learning of it only
// at a later one, after a failed message created it.
import { retryTopicOf } from '../../protocol/index.ts';
import { encodeCommand } from '../commands.ts';
import type { BrokerStateMachine } from '../state-machine.ts';

/** Creations proposed at once, at most: a burst of new groups does not flood the log. */
export const RETRY_TOPIC_CREATIONS_IN_FLIGHT_MAX = 16;

export class RetryTopicCreator {
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly stateMachine: Pick<BrokerStateMachine, 'topicQueueCount' | 'prepareCreateTopic'>,
    private readonly propose: (data: Uint8Array) => Promise<unknown>,
  ) {}

  /** Proposes %RETRY%<group> with one queue unless it exists or is being created. Best effort:
   *  a failure is tried again at the group's next heartbeat. */
  ensure(group: string): void {
    const topic = retryTopicOf(group);
    if (this.stateMachine.topicQueueCount(topic) !== undefined || this.inFlight.has(topic) || this.inFlight.size >= RETRY_TOPIC_CREATIONS_IN_FLIGHT_MAX) return;
    let data: Uint8Array;
    try {
      data = encodeCommand(this.stateMachine.prepareCreateTopic(topic, 1));
    } catch {
      return; // refused (e.g. the topic table is full): sendBack reports it when it matters
    }
    this.inFlight.add(topic);
    let proposal: Promise<unknown>;
    try {
      proposal = this.propose(data);
    } catch {
      proposal = Promise.resolve(); // a replica that cannot propose now: the next heartbeat tries again
    }
    proposal.catch(() => undefined).finally(() => this.inFlight.delete(topic));
  }
}
