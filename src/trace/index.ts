// Per-message latency tracing across processes (see trace.ts).
export * from './trace.ts';
