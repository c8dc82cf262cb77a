// The dashboard: one web page for a look at a whole broker group (RocketMQ Dashboard's spirit),
// fed by the same admin requests and /metrics endpoints a script would use. `raftmq dashboard`
// runs it; a NameServer can mount the same watcher and server.
export { ClusterWatcher, type WatcherOptions } from './watcher.ts';
export { serveDashboard, type DashboardServer, type DashboardServerOptions } from './server.ts';
export type { Overview, GroupView, ReplicaView, ChartView, TimelineEvent, Section } from './model.ts';
