// The protocol layer: everything both ends of a connection agree on (the wire's types, request
// and response kinds, limits, error codes). Imports only src/util and the Raft core's message
// type, so net, broker and client can all import it without importing each other.
export {
  FRAME_BYTES_MAX,
  MESSAGE_BODY_BYTES_MAX,
  SEND_BATCH_COUNT_MAX,
  SEND_BATCH_BYTES_MAX,
  PULL_COUNT_MAX,
  PULL_WAIT_MS_MAX,
  QUERY_MESSAGE_COUNT_MAX,
  BROKER_INFO_ROWS_MAX,
  TOPIC_NAME_PATTERN,
  TOPIC_NAME_LENGTH_MAX,
  GROUP_NAME_LENGTH_MAX,
  TOPIC_QUEUE_COUNT_MAX,
  MESSAGE_KEYS_BYTES_MAX,
  MESSAGE_TAGS_BYTES_MAX,
  MESSAGE_PROPERTY_COUNT_MAX,
  MESSAGE_PROPERTIES_BYTES_MAX,
} from './limits.ts';
export {
  RaftmqError,
  errorFromResponse,
  errorResponse,
  isRaftmqError,
  isRetryable,
  outcomeOf,
  RETRYABLE_CODES,
  type ErrorCode,
  type WriteOutcome,
  type ErrorResponse,
  type RaftmqErrorOptions,
} from './errors.ts';
export {
  messagesToWire,
  messagesFromWire,
  msgIdSlotHex,
  sendResultOf,
  MSG_ID_SLOT_HEX,
  type MessageInput,
  type StoredMessage,
  type SendResultItem,
  type SendBatchResult,
  type WireMessage,
  type Request,
  type Response,
  type ReplicaInfo,
  type NodeStatus,
  type BrokerInfo,
  type RoleChange,
  type QueueInfo,
  type GroupQueueInfo,
} from './wire.ts';
export { PEER_PROTOCOL_VERSION, type PeerHello, type PeerRaft, type PeerNotice, type PeerFrame, type PeerSnapChunk, type PeerSnapAck } from './peer.ts';
export { BlobCursor } from './blob-cursor.ts';
