// The NameServer (RocketMQ's namesrv): brokers register, clients ask for routes. Stateless and in
// memory: the route table (route-table.ts, pure) and the listener over it (server.ts).
export { NamesrvServer, PARKED_WATCHES_MAX, type NamesrvServerOptions } from './server.ts';
export { RouteTable, REGISTERED_TOPICS_MAX, type RouteEvent, type RouteTableOptions } from './route-table.ts';
export { validateRegistration, validateUnregister, validateWatch, validateTopic, type UnregisterRequest, type WatchRequest } from './requests.ts';
