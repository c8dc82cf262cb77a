// Message ids: hex(UTF-8 brokerName) + 16 hex digits of log index + 4 hex digits of slot, upper
// case. Unique across broker groups (names differ) and within one (a log index carries one batch).
import type { SendBatchResult } from '../../protocol/index.ts';
import { MSG_ID_SLOT_HEX, msgIdSlotHex } from '../../protocol/index.ts';

/** Width in hex digits of the log index part of a msgId. */
const MSG_ID_INDEX_HEX = 16;

export function makeMsgId(brokerName: string, logIndex: number, slot: number): string {
  return msgIdHead(msgIdPrefix(brokerName), logIndex) + msgIdSlotHex(slot);
}

/** Inverse of makeMsgId; undefined for a string that is not one. */
export function parseMsgId(msgId: string): { brokerName: string; logIndex: number; slot: number } | undefined {
  const suffix = MSG_ID_INDEX_HEX + MSG_ID_SLOT_HEX;
  if (msgId.length < suffix || (msgId.length - suffix) % 2 !== 0 || !/^[0-9A-F]+$/.test(msgId)) return undefined;
  const head = msgId.length - suffix;
  const logIndex = Number.parseInt(msgId.slice(head, head + MSG_ID_INDEX_HEX), 16);
  const slot = Number.parseInt(msgId.slice(head + MSG_ID_INDEX_HEX), 16);
  if (!Number.isSafeInteger(logIndex)) return undefined;
  return { brokerName: Buffer.from(msgId.slice(0, head), 'hex').toString('utf8'), logIndex, slot };
}

/** The broker name's part of its msgIds. */
export function msgIdPrefix(brokerName: string): string {
  return Buffer.from(brokerName, 'utf8').toString('hex').toUpperCase();
}

/** A msgId without its slot: the broker name's prefix and the log index. */
export function msgIdHead(prefix: string, logIndex: number): string {
  return prefix + logIndex.toString(16).toUpperCase().padStart(MSG_ID_INDEX_HEX, '0');
}

/** The send results of the `count` messages of the entry at `logIndex`, from queue offset `first`. */
export function sendBatchResult(prefix: string, logIndex: number, queueId: number, first: number, count: number): SendBatchResult {
  return { msgIdHead: msgIdHead(prefix, logIndex), queueId, firstOffset: first, logIndex, count };
}
