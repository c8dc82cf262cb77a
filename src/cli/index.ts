// The CLI folder's API for scripts and tests: the flag parser, the local-group helpers of
// `raftmq cluster`, LocalCluster and LocalClusterSet, the command table, and the parts of
// commands that tests check without a process (parsers, tables, target resolution). main.ts is
// not here: importing it runs the command line.
export * from './args.ts';
export * from './cluster.ts';
export * from './local-cluster.ts';
export * from './local-cluster-set.ts';
export * from './progress.ts';
export * from './table.ts';
export * from './target.ts';
export * from './outcome.ts';
export { COMMANDS, type Command } from './commands.ts';
export { parseMemberArgs, membersTable, run as runMember, type MemberCommand } from './member.ts';
export { clusterListLines, clusterInfoOf } from './cluster-list.ts';
export { topicRouteLines, permText } from './topic-route.ts';
export { topicStatusLines } from './topic-status.ts';
export { parseBrokerNames } from './update-topic.ts';
export { brokerStatusLines } from './broker-status.ts';
export { connectionRowsOf, progressRowsOf, type ConnectionRow, type ProgressRow } from './consumer-admin.ts';
export { consumerConnectionLines } from './consumer-connection.ts';
export { consumerProgressLines } from './consumer-progress.ts';
