// The raftmq subcommands: each a module with run(argv), loaded only when it is the one run.

export interface Command {
  readonly summary: string;
  load(): Promise<{ run(argv: string[]): Promise<number> }>;
}

export const COMMANDS: Readonly<Record<string, Command>> = {
  node: { summary: 'run one replica in the foreground (--config broker.conf)', load: () => import('./node.ts') },
  cluster: { summary: 'run a local NameServer and broker groups (--groups G of --nodes N) as child processes', load: () => import('./cluster.ts') },
  namesrv: { summary: 'run a NameServer: the routes of every broker group that registers with it', load: () => import('./namesrv.ts') },
  status: { summary: 'show each replica: role, term, leader, commit/applied/last index', load: () => import('./status.ts') },
  topic: { summary: 'topic create: create or grow a topic on one group (see updateTopic)', load: () => import('./topic.ts') },
  send: { summary: 'send one message, or --count N for a load run', load: () => import('./send.ts') },
  consume: { summary: 'read messages of a topic (all queues)', load: () => import('./consume.ts') },
  offset: { summary: "offset show | reset: a consumer group's offsets and lag; reset them to a time", load: () => import('./offset.ts') },
  member: { summary: "member list | add | promote | remove: the group's voters and learners", load: () => import('./member.ts') },
  'transfer-leader': { summary: 'move the master role to another replica', load: () => import('./transfer-leader.ts') },
  message: { summary: 'find messages by msgId or by key', load: () => import('./message.ts') },
  dashboard: { summary: 'serve a live web dashboard of a broker group', load: () => import('./dashboard.ts') },
  // RocketMQ's mqadmin commands, by mqadmin's names.
  clusterList: { summary: 'the clusters, broker groups and replicas the NameServer knows', load: () => import('./cluster-list.ts') },
  topicList: { summary: 'every topic of the cluster', load: () => import('./topic-list.ts') },
  topicRoute: { summary: "a topic's route: the groups that hold its queues, their replicas", load: () => import('./topic-route.ts') },
  topicStatus: { summary: "min/max offset and last update of every queue of a topic, on every group", load: () => import('./topic-status.ts') },
  updateTopic: { summary: 'create or grow a topic on every group of a cluster, or the groups named', load: () => import('./update-topic.ts') },
  deleteTopic: { summary: 'remove a topic from every group of a cluster', load: () => import('./delete-topic.ts') },
  brokerStatus: { summary: "one replica's status and what it knows (or every replica's)", load: () => import('./broker-status.ts') },
  consumerConnection: { summary: "a consumer group's live members: address, consume model, subscriptions", load: () => import('./consumer-connection.ts') },
  consumerProgress: { summary: "a consumer group's offsets and diff on every queue it consumes, on every group", load: () => import('./consumer-progress.ts') },
  dlq: { summary: "dlq list | resend: a consumer group's dead letters; send them again to their topic", load: () => import('./dlq.ts') },
};
