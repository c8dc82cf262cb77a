// What the dashboard page shows, as data: the page renders an Overview and nothing else, so a new
// kind of state (NameServer routes, consumer membership, retries) becomes a new Section built in
// sections.ts and appears without a change to the page.

/** One replica as the dashboard last saw it. */
export interface ReplicaView {
  readonly addr: string;
  /** '' until the replica has answered once. */
  readonly nodeId: string;
  readonly up: boolean;
  /** Why it is shown down (the last error). */
  readonly error: string;
  readonly role: 'MASTER' | 'SLAVE' | 'DOWN';
  readonly term: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  /** Entries it lacks compared with the master's last index (null without a master). */
  readonly behindEntries: number | null;
  readonly recovering: boolean;
  /** Why its reads are not current, or ''. */
  readonly staleness: string;
  readonly pid: number;
  /** host:port of its metrics listener, '' when off. */
  readonly metricsAddr: string;
  /** When it last answered (ms since the epoch; 0: never). */
  readonly lastSeenMs: number;
}

export interface GroupView {
  readonly brokerName: string;
  /** Node id of the master: the replica that says MASTER in the highest term; '' when none. */
  readonly master: string;
  readonly term: number;
  readonly replicas: readonly ReplicaView[];
}

/** A time series chart: x in seconds since the epoch, one array per series. */
export interface ChartView {
  readonly id: string;
  readonly title: string;
  readonly unit: string;
  readonly times: readonly number[];
  readonly series: readonly { readonly label: string; readonly values: readonly (number | null)[] }[];
}

export interface TimelineEvent {
  readonly atMs: number;
  readonly kind: 'master' | 'down' | 'up';
  readonly text: string;
}

/** A table the page renders as it is: columns in order, rows of cells. */
export interface Section {
  readonly id: string;
  readonly title: string;
  readonly columns: readonly { readonly key: string; readonly label: string }[];
  readonly rows: readonly Readonly<Record<string, string | number>>[];
  /** Shown under the title (e.g. "lists cut at N rows"). */
  readonly note: string;
}

export interface Overview {
  readonly generatedAtMs: number;
  readonly pollMs: number;
  readonly groups: readonly GroupView[];
  readonly charts: readonly ChartView[];
  /** Newest first. */
  readonly timeline: readonly TimelineEvent[];
  readonly sections: readonly Section[];
}
