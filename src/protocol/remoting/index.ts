// RocketMQ's remoting protocol, the codec only: frames, both header serialize types, RocketMQ's
// codes, and fastjson bodies. Pure (no sockets): the listeners that speak it import this.
export * from './codes.ts';
export * from './command.ts';
export { encodeRemotingCommand, RemotingDecoder } from './codec.ts';
export { encodeJsonHeader, decodeJsonHeader } from './header-json.ts';
export { encodeRocketmqHeader, decodeRocketmqHeader } from './header-rocketmq.ts';
export { parseFastjson, stringifyFastjson, FASTJSON_DEPTH_MAX } from './fastjson.ts';
