// A small in-memory broker built on src/net's server, with hooks to script failures.
import { listen, type Server, type ServerConnection, type Frame } from '../../src/net/index.ts';
import { messagesFromWire, msgIdSlotHex, type MembersInfo, type MessageInput, type NodeStatus, type StoredMessage } from '../../src/protocol/index.ts';

export type AnyFrame = Frame & Record<string, any>;
/** Returns true when it answered (or deliberately did not answer) the frame itself. */
export type Hook = (frame: AnyFrame, conn: ServerConnection, broker: FakeBroker) => boolean;

export class FakeBroker {
  role: 'MASTER' | 'SLAVE' = 'MASTER';
  /** The master's address, for NOT_MASTER hints and status (empty: unknown). */
  masterAddr = '';
  hook: Hook | null = null;
  /** The answer to `members` (null: BAD_REQUEST, as a broker without membership). memberChange
   *  is left to hooks. */
  members: MembersInfo | null = null;
  readonly requests: AnyFrame[] = [];
  readonly topics = new Map<string, StoredMessage[][]>();
  readonly offsets = new Map<string, number>();
  private waiters: Array<() => void> = [];

  private constructor(
    readonly server: Server,
    readonly nodeId: string,
  ) {}

  static async start(nodeId = 'n0'): Promise<FakeBroker> {
    let broker: FakeBroker | null = null;
    const server = await listen({ host: '127.0.0.1', port: 0 }, (frame, conn) => broker!.handle(frame as AnyFrame, conn));
    broker = new FakeBroker(server, nodeId);
    return broker;
  }

  get addr(): string {
    return this.server.addr;
  }

  /** How send results are answered: one batch object, or a batch with bad fields. */
  sendResultForm: 'batch' | 'malformed' = 'batch';

  private msgIdHead(topic: string, queueId: number): string {
    return `${this.nodeId}-${topic}-${queueId}-`;
  }

  count(type: string): number {
    return this.requests.filter((r) => r.type === type).length;
  }

  createTopic(topic: string, queues: number): void {
    this.topics.set(topic, Array.from({ length: queues }, () => []));
  }

  /** Appends messages to a queue directly (as if another producer sent them). */
  store(topic: string, queueId: number, messages: MessageInput[], storeTimestamp = Date.now()): StoredMessage[] {
    const queue = this.topics.get(topic)![queueId]!;
    const first = queue.length;
    const out = messages.map((m, slot) => {
      const stored: StoredMessage = {
        topic,
        queueId,
        queueOffset: queue.length,
        logIndex: 0,
        // What a client builds from a batch result (msgIdHead + 4 hex digits of the slot).
        msgId: `${this.msgIdHead(topic, queueId)}${first}-${msgIdSlotHex(slot)}`,
        storeTimestamp,
        keys: m.keys ?? '',
        tags: m.tags ?? '',
        properties: m.properties ?? {},
        body: m.body,
        reconsumeTimes: 0,
      };
      queue.push(stored);
      return stored;
    });
    for (const w of this.waiters.splice(0)) w();
    return out;
  }

  close(): Promise<void> {
    for (const w of this.waiters.splice(0)) w();
    return this.server.close();
  }

  private status(): NodeStatus {
    return {
      nodeId: this.nodeId,
      brokerName: 'b',
      role: this.role,
      raftRole: this.role === 'MASTER' ? 'leader' : 'follower',
      brokerId: this.role === 'MASTER' ? 0 : 1,
      term: 1,
      leaderId: '',
      leaderAddr: this.role === 'MASTER' ? this.addr : this.masterAddr,
      commitIndex: 0,
      appliedIndex: 0,
      lastIndex: 0,
      leaderCommitIndex: 0,
      recovering: false,
      pid: process.pid,
      addr: this.addr,
    };
  }

  private handle(frame: AnyFrame, conn: ServerConnection): void {
    this.dispatch(frame, conn);
  }

  private dispatch(frame: AnyFrame, conn: ServerConnection): unknown {
    this.requests.push(frame);
    if (this.hook?.(frame, conn, this)) return;
    const reply = (r: object) => conn.send({ id: frame.id, ...r });
    const notMaster = () =>
      reply({ type: 'error', code: 'NOT_MASTER', message: 'not master', masterAddr: this.masterAddr, masterId: '' });
    const queues = this.topics.get(frame.topic);
    switch (frame.type) {
      case 'status':
        return reply({ type: 'status', status: this.status() });
      case 'route':
        if (!queues) return reply({ type: 'error', code: 'TOPIC_NOT_FOUND', message: frame.topic });
        return reply({
          type: 'route',
          topic: frame.topic,
          queues: queues.length,
          master: null,
          replicas: [],
        });
      case 'send':
        if (this.role !== 'MASTER') return notMaster();
        if (!queues) return reply({ type: 'error', code: 'TOPIC_NOT_FOUND', message: frame.topic });
        {
          if (frame.blobs === undefined) return reply({ type: 'error', code: 'BAD_REQUEST', message: 'send: bodies must come as blobs' });
          const messages = messagesFromWire(frame.messages, frame.blobs);
          if (typeof messages === 'string') return reply({ type: 'error', code: 'BAD_REQUEST', message: messages });
          const stored = this.store(frame.topic, frame.queueId, messages);
          if (this.sendResultForm === 'malformed') return reply({ type: 'sendResult', batch: { msgIdHead: 7, count: stored.length } });
          return reply({ type: 'sendResult', batch: { msgIdHead: `${this.msgIdHead(frame.topic, frame.queueId)}${stored[0]!.queueOffset}-`, queueId: frame.queueId, firstOffset: stored[0]!.queueOffset, logIndex: 0, count: stored.length } });
        }
      case 'pull': {
        if (!queues) return reply({ type: 'error', code: 'TOPIC_NOT_FOUND', message: frame.topic });
        const answer = () => {
          const queue = queues[frame.queueId]!;
          const messages = queue.slice(frame.offset, frame.offset + frame.maxCount);
          reply({
            type: 'pullResult',
            messages,
            nextOffset: frame.offset + messages.length,
            minOffset: 0,
            maxOffset: queue.length,
          });
        };
        if (queues[frame.queueId]!.length > frame.offset || frame.waitMs === 0) return answer();
        // long poll
        let done = false;
        const finish = () => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          answer();
        };
        const timer = setTimeout(finish, frame.waitMs);
        this.waiters.push(finish);
        return;
      }
      case 'commitOffset':
        if (this.role !== 'MASTER') return notMaster();
        this.offsets.set(`${frame.group}/${frame.topic}/${frame.queueId}`, frame.offset);
        return reply({ type: 'ok' });
      case 'queryOffset':
        if (this.role !== 'MASTER') return notMaster();
        return reply({ type: 'offset', offset: this.offsets.get(`${frame.group}/${frame.topic}/${frame.queueId}`) ?? -1 });
      case 'searchOffset': {
        if (this.role !== 'MASTER') return notMaster();
        if (!queues) return reply({ type: 'error', code: 'TOPIC_NOT_FOUND', message: frame.topic });
        const queue = queues[frame.queueId]!;
        const found = queue.findIndex((m) => m.storeTimestamp >= frame.timestamp);
        return reply({ type: 'offset', offset: found < 0 ? queue.length : found });
      }
      case 'createTopic':
        if (this.role !== 'MASTER') return notMaster();
        this.createTopic(frame.topic, frame.queues);
        return reply({ type: 'ok' });
      case 'members':
        if (this.members === null) return reply({ type: 'error', code: 'BAD_REQUEST', message: 'unknown type members' });
        return reply({ type: 'members', members: this.members });
      case 'transferLeader':
        if (this.role !== 'MASTER') return notMaster();
        return reply({ type: 'ok' });
      default:
        return reply({ type: 'error', code: 'BAD_REQUEST', message: `unknown type ${frame.type}` });
    }
  }
}

/** A master n0 and a slave n1 that names it, closed when `t` ends. */
export async function fakeMasterAndSlave(t: { teardown(fn: () => unknown): void }): Promise<{ master: FakeBroker; slave: FakeBroker }> {
  const master = await FakeBroker.start('n0');
  const slave = await FakeBroker.start('n1');
  t.teardown(() => master.close());
  t.teardown(() => slave.close());
  slave.role = 'SLAVE';
  slave.masterAddr = master.addr;
  return { master, slave };
}
