// Where a topic's messages can go: its queues over every broker group that holds the topic, in a
// fixed order (groups by brokerName, then queue id), as RocketMQ's TopicPublishInfo. Every
// producer computes the same list from the same route, so a key maps to the same queue in all.
import { PERM_WRITE, type TopicRouteData } from '../protocol/index.ts';
import type { RouteResponse } from './types.ts';

/** One queue of a topic: broker group (brokerName; '' for a producer given one group's
 *  servers) and queue id in that group. */
export interface MessageQueue {
  readonly topic: string;
  readonly brokerName: string;
  readonly queueId: number;
}

export interface PublishRoute {
  readonly topic: string;
  /** All writable queues, groups by brokerName, then queue id. */
  readonly queues: readonly MessageQueue[];
  /** The groups of `queues`. */
  readonly groups: ReadonlySet<string>;
}

/** The route of a one-group producer (servers, no NameServer): the broker's route answer. */
export function publishRouteOfGroup(topic: string, route: Pick<RouteResponse, 'queues'>): PublishRoute {
  const queues: MessageQueue[] = [];
  for (let q = 0; q < route.queues; q++) queues.push({ topic, brokerName: '', queueId: q });
  return { topic, queues, groups: new Set(['']) };
}

/** The route as a NameServer gave it: queues of every group whose QueueData allows writes. */
export function publishRouteOf(topic: string, data: TopicRouteData): PublishRoute {
  const queues: MessageQueue[] = [];
  const groups = new Set<string>();
  const datas = [...data.queueDatas].sort((a, b) => (a.brokerName < b.brokerName ? -1 : a.brokerName > b.brokerName ? 1 : 0));
  for (const qd of datas) {
    if ((qd.perm & PERM_WRITE) === 0 || !(qd.writeQueueNums > 0)) continue;
    groups.add(qd.brokerName);
    for (let q = 0; q < qd.writeQueueNums; q++) queues.push({ topic, brokerName: qd.brokerName, queueId: q });
  }
  return { topic, queues, groups };
}
