// The Raft messages a send's latency trace follows (src/trace/trace.ts): appends that carry
// entries, and their acknowledgements, where the replica hands them to the transport or the
// transport decodes them.
import { MessageType, type Message } from '../raft/index.ts';
import { trace } from '../trace/index.ts';

export function traceMessages(messages: readonly Message[], where: 'send' | 'recv'): void {
  for (const m of messages) {
    if (m.type === MessageType.Append && m.entries.length > 0) {
      trace(where === 'send' ? 'replica.sendAppend' : 'replica.recvAppend', m.entries[m.entries.length - 1].index);
    } else if (m.type === MessageType.AppendResp && !m.reject) {
      trace(where === 'send' ? 'replica.sendAck' : 'replica.recvAck', m.index);
    }
  }
}
