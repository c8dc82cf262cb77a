// RocketMQ's numeric codes, with RocketMQ's names (apache/rocketmq remoting: RequestCode,
// ResponseCode + RemotingSysResponseCode, LanguageCode, SerializeType). Only the codes raftmq
// answers or sends are listed; anything else is answered REQUEST_CODE_NOT_SUPPORTED by name-less
// number, so the list need not be complete.

/** Request codes a producer, a push consumer and mqadmin send (and 40, which a broker sends). */
export const RequestCode = {
  SEND_MESSAGE: 10,
  PULL_MESSAGE: 11,
  QUERY_MESSAGE: 12,
  QUERY_CONSUMER_OFFSET: 14,
  UPDATE_CONSUMER_OFFSET: 15,
  UPDATE_AND_CREATE_TOPIC: 17,
  GET_ALL_TOPIC_CONFIG: 21,
  GET_BROKER_RUNTIME_INFO: 28,
  SEARCH_OFFSET_BY_TIMESTAMP: 29,
  GET_MAX_OFFSET: 30,
  GET_MIN_OFFSET: 31,
  GET_EARLIEST_MSG_STORETIME: 32,
  VIEW_MESSAGE_BY_ID: 33,
  HEART_BEAT: 34,
  UNREGISTER_CLIENT: 35,
  CONSUMER_SEND_MSG_BACK: 36,
  END_TRANSACTION: 37,
  GET_CONSUMER_LIST_BY_GROUP: 38,
  CHECK_TRANSACTION_STATE: 39,
  NOTIFY_CONSUMER_IDS_CHANGED: 40,
  LOCK_BATCH_MQ: 41,
  UNLOCK_BATCH_MQ: 42,
  GET_ALL_CONSUMER_OFFSET: 43,
  GET_ALL_DELAY_OFFSET: 45,
  GET_KV_CONFIG: 101,
  REGISTER_BROKER: 103,
  UNREGISTER_BROKER: 104,
  GET_ROUTEINFO_BY_TOPIC: 105,
  GET_BROKER_CLUSTER_INFO: 106,
  UPDATE_AND_CREATE_SUBSCRIPTIONGROUP: 200,
  GET_TOPIC_STATS_INFO: 202,
  GET_CONSUMER_CONNECTION_LIST: 203,
  GET_ALL_TOPIC_LIST_FROM_NAMESERVER: 206,
  GET_CONSUME_STATS: 208,
  DELETE_TOPIC_IN_BROKER: 215,
  DELETE_TOPIC_IN_NAMESRV: 216,
  GET_KVLIST_BY_NAMESPACE: 219,
  GET_TOPICS_BY_CLUSTER: 224,
  QUERY_TOPIC_CONSUME_BY_WHO: 300,
  GET_CONSUMER_RUNNING_INFO: 307,
  CONSUME_MESSAGE_DIRECTLY: 309,
  SEND_MESSAGE_V2: 310,
  SEND_BATCH_MESSAGE: 320,
} as const;
export type RequestCodeName = keyof typeof RequestCode;

/** Response codes (RemotingSysResponseCode 0-4 and ResponseCode), RocketMQ's numbers. */
export const ResponseCode = {
  SUCCESS: 0,
  SYSTEM_ERROR: 1,
  SYSTEM_BUSY: 2,
  REQUEST_CODE_NOT_SUPPORTED: 3,
  TRANSACTION_FAILED: 4,
  FLUSH_DISK_TIMEOUT: 10,
  SLAVE_NOT_AVAILABLE: 11,
  FLUSH_SLAVE_TIMEOUT: 12,
  MESSAGE_ILLEGAL: 13,
  SERVICE_NOT_AVAILABLE: 14,
  VERSION_NOT_SUPPORTED: 15,
  NO_PERMISSION: 16,
  TOPIC_NOT_EXIST: 17,
  TOPIC_EXIST_ALREADY: 18,
  PULL_NOT_FOUND: 19,
  PULL_RETRY_IMMEDIATELY: 20,
  PULL_OFFSET_MOVED: 21,
  QUERY_NOT_FOUND: 22,
  SUBSCRIPTION_PARSE_FAILED: 23,
  SUBSCRIPTION_NOT_EXIST: 24,
  SUBSCRIPTION_NOT_LATEST: 25,
  SUBSCRIPTION_GROUP_NOT_EXIST: 26,
  FILTER_DATA_NOT_EXIST: 27,
  FILTER_DATA_NOT_LATEST: 28,
  INVALID_PARAMETER: 29,
  CONSUMER_NOT_ONLINE: 206,
  NO_MESSAGE: 208,
  BROKER_NOT_EXIST: 211,
  FLOW_CONTROL: 215,
  NOT_LEADER_FOR_QUEUE: 501,
  ILLEGAL_OPERATION: 604,
} as const;
export type ResponseCodeName = keyof typeof ResponseCode;

/** The client's language, one byte in the binary header and the enum's name in JSON headers.
 *  RUST and NODE_JS are recent additions (RocketMQ 5.x); older brokers know 0-11. */
export const LanguageCode = {
  JAVA: 0,
  CPP: 1,
  DOTNET: 2,
  PYTHON: 3,
  DELPHI: 4,
  ERLANG: 5,
  RUBY: 6,
  OTHER: 7,
  HTTP: 8,
  GO: 9,
  PHP: 10,
  OMS: 11,
  RUST: 12,
  NODE_JS: 13,
} as const;
export type LanguageCodeName = keyof typeof LanguageCode;

/** How the header is serialized: the top byte of the frame's second int32. */
export const SerializeType = { JSON: 0, ROCKETMQ: 1 } as const;
export type SerializeTypeName = keyof typeof SerializeType;
export type SerializeTypeCode = (typeof SerializeType)[SerializeTypeName];

const languageNames = new Map<number, LanguageCodeName>(Object.entries(LanguageCode).map(([name, code]) => [code, name as LanguageCodeName]));

/** The JSON name of a language byte; a byte RocketMQ has no name for is written as OTHER. */
export function languageName(code: number): LanguageCodeName {
  return languageNames.get(code) ?? 'OTHER';
}

/** The byte of a JSON language name or number; an unknown name reads as OTHER (a newer client's
 *  language must not cost it its connection). Undefined when the value is neither. */
export function languageCodeOf(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xff) return value;
  if (typeof value === 'string') return Object.hasOwn(LanguageCode, value) ? LanguageCode[value as LanguageCodeName] : LanguageCode.OTHER;
  return undefined;
}

const requestNames = new Map<number, RequestCodeName>(Object.entries(RequestCode).map(([name, code]) => [code, name as RequestCodeName]));

/** `SEND_MESSAGE_V2(310)` for logs and remarks, or just the number for a code not listed here. */
export function requestCodeLabel(code: number): string {
  const name = requestNames.get(code);
  return name === undefined ? String(code) : `${name}(${code})`;
}
