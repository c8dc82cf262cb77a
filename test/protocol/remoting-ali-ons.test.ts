// The codec against ali-ons' own RemotingCommand (the pure-JS RocketMQ client, from npm), with no
// network: what ali-ons encodes our decoder reads, and what we encode ali-ons decodes. Its
// route parser (JSON2, which evaluates the text) reads our fastjson writer's unquoted keys.
import t from 'tap';
import { createRequire } from 'node:module';
import { remoting } from '../../src/protocol/index.ts';

const { RemotingDecoder, encodeRemotingCommand, remotingResponse, stringifyFastjson, RequestCode, ResponseCode, SerializeType, LanguageCode } = remoting;

interface AliOnsCommand {
  code: number;
  opaque: number;
  flag: number;
  remark?: string;
  extFields: Record<string, unknown>;
  body: Buffer | null | undefined;
  readonly isResponseType: boolean;
  encode(): Buffer;
  decodeCommandCustomHeader(): Record<string, unknown>;
}
interface AliOnsCommandClass {
  createRequestCommand(code: number, customHeader: object | null): AliOnsCommand;
  decode(packet: Buffer): AliOnsCommand;
}
const require = createRequire(import.meta.url);
const AliOnsRemotingCommand = require('ali-ons/lib/protocol/command/remoting_command.js') as AliOnsCommandClass;
const JSON2 = require('JSON2') as { parse(text: string): unknown };

function decodeAll(bytes: Buffer): remoting.DecodedRemotingCommand[] {
  const decoder = new RemotingDecoder();
  const got = decoder.push(bytes);
  if (decoder.pendingBytes !== 0) throw new Error('bytes left over');
  return got;
}

t.test("ali-ons' SEND_MESSAGE_V2 request decodes: header fields as strings, the body as sent", async (t) => {
  // The header ali-ons' MQClientAPI.sendMessage builds (SendMessageRequestHeaderV2's short names).
  const header = { a: 'PG', b: 'orders', c: 'TBW102', d: 4, e: 1, f: 0, g: 1700000000000, h: 0, i: 'TAGS\u0001tagA\u0002KEYS\u0001order-1\u0002', j: 0, k: false, l: 16 };
  const request = AliOnsRemotingCommand.createRequestCommand(RequestCode.SEND_MESSAGE_V2, header);
  request.body = Buffer.from('hello');
  const [cmd] = decodeAll(request.encode());
  t.equal(cmd.code, 310);
  t.equal(cmd.language, LanguageCode.JAVA, 'ali-ons says JAVA');
  t.equal(cmd.version, 121);
  t.equal(cmd.opaque, request.opaque);
  t.notOk(remoting.isResponse(cmd));
  t.equal(cmd.serializeType, SerializeType.JSON);
  t.same({ ...cmd.extFields }, { a: 'PG', b: 'orders', c: 'TBW102', d: '4', e: '1', f: '0', g: '1700000000000', h: '0', i: header.i, j: '0', k: 'false', l: '16' });
  t.equal(cmd.body?.toString(), 'hello');
});

t.test('several ali-ons requests back to back, split anywhere, decode in order', async (t) => {
  const requests = [
    AliOnsRemotingCommand.createRequestCommand(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: 'orders' }),
    AliOnsRemotingCommand.createRequestCommand(RequestCode.HEART_BEAT, null),
    AliOnsRemotingCommand.createRequestCommand(RequestCode.QUERY_CONSUMER_OFFSET, { consumerGroup: 'G', topic: 'orders', queueId: 3 }),
  ];
  requests[1].body = Buffer.from(JSON.stringify({ clientID: '127.0.0.1@1', producerDataSet: [], consumerDataSet: [] }));
  const wire = Buffer.concat(requests.map((r) => r.encode()));
  for (const size of [1, 7, 64, wire.length]) {
    const decoder = new RemotingDecoder();
    const got: remoting.DecodedRemotingCommand[] = [];
    for (let at = 0; at < wire.length; at += size) got.push(...decoder.push(wire.subarray(at, at + size)));
    t.same(
      got.map((c) => [c.code, c.opaque]),
      requests.map((r) => [r.code, r.opaque]),
      `chunks of ${size}`,
    );
    t.same(remoting.parseFastjson(got[1].body!.toString()), { clientID: '127.0.0.1@1', producerDataSet: [], consumerDataSet: [] });
    t.equal(got[2].extFields.queueId, '3');
  }
});

t.test('our responses decode in ali-ons: code, opaque, remark, header fields and body', async (t) => {
  const request = AliOnsRemotingCommand.createRequestCommand(RequestCode.SEND_MESSAGE_V2, { a: 'PG', b: 'orders' });
  const [req] = decodeAll(request.encode());
  const response = remotingResponse(req, ResponseCode.SUCCESS, undefined, { msgId: '0A0000010000270F0000000000000001', queueId: '1', queueOffset: '42' });
  const got = AliOnsRemotingCommand.decode(encodeRemotingCommand(response, req.serializeType));
  t.ok(got.isResponseType);
  t.equal(got.code, ResponseCode.SUCCESS);
  t.equal(got.opaque, request.opaque, 'paired with its request');
  t.same(got.decodeCommandCustomHeader(), { msgId: '0A0000010000270F0000000000000001', queueId: '1', queueOffset: '42' });

  const notFound = AliOnsRemotingCommand.decode(encodeRemotingCommand(remotingResponse(req, ResponseCode.TOPIC_NOT_EXIST, 'No topic route info in name server for the topic: orders')));
  t.equal(notFound.code, 17);
  t.equal(notFound.remark, 'No topic route info in name server for the topic: orders');
  t.notOk(notFound.body, 'no body');
});

t.test("ali-ons' route parser (JSON2) reads a TopicRouteData body with fastjson's unquoted broker ids", async (t) => {
  const route = {
    brokerDatas: [{ brokerAddrs: new Map([[0, '127.0.0.1:10911']]), brokerName: 'broker-a', cluster: 'DefaultCluster' }],
    filterServerTable: {},
    queueDatas: [{ brokerName: 'broker-a', perm: 6, readQueueNums: 4, topicSysFlag: 0, writeQueueNums: 4 }],
  };
  const body = Buffer.from(stringifyFastjson(route));
  const [req] = decodeAll(AliOnsRemotingCommand.createRequestCommand(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: 'orders' }).encode());
  const got = AliOnsRemotingCommand.decode(encodeRemotingCommand(remotingResponse(req, ResponseCode.SUCCESS, undefined, {}, body)));
  const parsed = JSON2.parse(got.body!.toString()) as { brokerDatas: { brokerAddrs: Record<number, string> }[]; queueDatas: { writeQueueNums: number }[] };
  t.equal(parsed.brokerDatas[0].brokerAddrs[0], '127.0.0.1:10911', 'MixAll.MASTER_ID 0 finds the master');
  t.equal(parsed.queueDatas[0].writeQueueNums, 4);
});
