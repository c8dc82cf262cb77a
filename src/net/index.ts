// The net layer: framing, coalesced writes, client connections and the frame server.
export * from './errors.ts';
export * from './frame-codec.ts';
export * from './frame-writer.ts';
export * from './connection.ts';
export * from './server.ts';
export * from './util.ts';
export { freeLocalPorts, reservePort, PORT_RESERVATIONS_DIR } from './free-ports.ts';
export { WarningSummary, SUMMARY_ADDRESSES_LISTED_MAX, SUMMARY_ADDRESSES_MAX } from './warning-summary.ts';
export type { WarningSummaryOptions } from './warning-summary.ts';
