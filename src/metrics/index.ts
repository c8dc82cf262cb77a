// Metrics: a Prometheus registry per process (prom-client, with its default process metrics),
// the HTTP listener that serves it, bounded label values, and a reader of the text format for
// whoever scrapes (the dashboard). Imports only packages: the broker and, later, the NameServer
// define their own metrics over it.
export { createRegistry, BoundedLabel, METRIC_PREFIX, OTHER_LABEL_VALUE } from './registry.ts';
export { PlainHistogram, PlainHistogramSeries } from './plain.ts';
export { serveMetrics, type MetricsServer, type MetricsServerOptions } from './exporter.ts';
export { parsePrometheusText, sumOf, histogramBuckets, quantileBetween, type Sample } from './prom-text.ts';
