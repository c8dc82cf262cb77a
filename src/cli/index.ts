// The CLI folder's API for scripts and tests: the flag parser, the local-group helpers of
// `raftmq cluster`, LocalCluster, and `raftmq member`'s parser and table. main.ts is not here:
// importing it runs the command line.
export * from './args.ts';
export * from './cluster.ts';
export * from './local-cluster.ts';
export * from './progress.ts';
export { parseMemberArgs, membersTable, run as runMember, type MemberCommand } from './member.ts';
