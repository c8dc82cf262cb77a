// Consumer groups at the broker: live membership (not replicated), tag filtering of pulls and
// slave-read suggestions. The server's entry points.
export { ConsumerGroupService, CONSUMER_SWEEP_INTERVAL_MS, PARKED_CONSUMER_LISTS_MAX, type ConsumerGroupServiceOptions } from './service.ts';
export { ConsumerGroupRegistry, type Heartbeat, type Member, type RegistryOptions } from './registry.ts';
export { suggestNodeIdOf, SUGGESTED_SLAVE_LAG_ENTRIES_MAX, type SlaveReadSettings, type PulledAt } from './slave-read.ts';
export { TagFilterCache, TAG_FILTER_CACHE_COUNT_MAX } from './tag-filter.ts';
export { RetryTopicCreator, RETRY_TOPIC_CREATIONS_IN_FLIGHT_MAX } from './retry-topics.ts';
export { TAG_FILTER_SCAN_FACTOR } from '../state/reads.ts';
