// Limits of the wire that both sides check: a client refuses a request the broker would refuse,
// without a round trip, and the broker checks again (a client may be of another version).

/** Largest frame either side accepts (length prefix excluded). */
export const FRAME_BYTES_MAX = 16 * 1024 * 1024;
/** Largest message body a producer may send (RocketMQ's maxMessageSize is 4 MiB). */
export const MESSAGE_BODY_BYTES_MAX = 4 * 1024 * 1024;
/** Most messages in one send request. */
export const SEND_BATCH_COUNT_MAX = 1024;
/** Bodies plus keys, tags and properties of one send batch. Keeps one log entry well below
 *  FRAME_BYTES_MAX (16 MiB), so it always fits one Raft append frame. */
export const SEND_BATCH_BYTES_MAX = 2 * MESSAGE_BODY_BYTES_MAX;
/** Most messages one pull returns. */
export const PULL_COUNT_MAX = 1024;
/** Most messages one queryMessage returns. */
export const QUERY_MESSAGE_COUNT_MAX = 64;
/** Rows of each list in a brokerInfo answer (queues of all topics; consumer offsets). */
export const BROKER_INFO_ROWS_MAX = 8192;
/** Longest long-poll a pull may ask for. */
export const PULL_WAIT_MS_MAX = 30_000;

/** RocketMQ's topic rule (TopicValidator): letters, digits, `%`, `|`, `_`, `-`. */
export const TOPIC_NAME_PATTERN = /^[%|a-zA-Z0-9_-]+$/;
export const TOPIC_NAME_LENGTH_MAX = 127;
/** Consumer group names follow the topic character rule; RocketMQ allows 255 characters. */
export const GROUP_NAME_LENGTH_MAX = 255;
/** Queues per topic. */
export const TOPIC_QUEUE_COUNT_MAX = 1024;
/** `keys` of one message, UTF-8 bytes. */
export const MESSAGE_KEYS_BYTES_MAX = 1024;
/** `tags` of one message, UTF-8 bytes. */
export const MESSAGE_TAGS_BYTES_MAX = 255;
/** User properties of one message. */
export const MESSAGE_PROPERTY_COUNT_MAX = 64;
/** All property names and values of one message, UTF-8 bytes (RocketMQ: Short.MAX_VALUE). */
export const MESSAGE_PROPERTIES_BYTES_MAX = 32_767;
/** An idempotent producer's id: what RocketMQ allows in a client id, at most 64 characters. */
export const PRODUCER_ID_PATTERN = /^[a-zA-Z0-9_.:@-]{1,64}$/;
/** Batches an idempotent producer may have in flight per queue, and how many of its latest
 *  batches per queue the broker remembers to answer a retry with the first result. */
export const IDEMPOTENCE_WINDOW_BATCHES = 32;
