// Request/response typing for the client: which response type answers which request type.
import type { Request, Response } from '../protocol/index.ts';

export type RequestType = Request['type'];

/** The request frames before the connection assigns an id (each variant of a request type
 *  kept apart: memberChange's add has addresses, its promote and remove do not). */
export type RequestInput<T extends RequestType = RequestType> = WithoutId<Extract<Request, { type: T }>>;

type WithoutId<R> = R extends unknown ? Omit<R, 'id'> : never;

interface ResponseTypeOf {
  send: 'sendResult';
  pull: 'pullResult';
  commitOffset: 'ok';
  queryOffset: 'offset';
  searchOffset: 'offset';
  createTopic: 'ok';
  deleteTopic: 'ok';
  route: 'route';
  status: 'status';
  transferLeader: 'ok';
  brokerInfo: 'brokerInfo';
  viewMessage: 'messages';
  queryMessage: 'messages';
  members: 'members';
  memberChange: 'members';
  heartbeat: 'consumerGroup';
  unregisterClient: 'ok';
  consumerList: 'consumerGroup';
  sendBack: 'ok';
  lockQueues: 'lockedQueues';
  unlockQueues: 'ok';
}

/** The successful response to request type T (errors arrive as thrown RaftmqErrors). */
export type ResponseFor<T extends RequestType> = Extract<Response, { type: ResponseTypeOf[T] }>;

export type RouteResponse = ResponseFor<'route'>;
export type PullResponse = ResponseFor<'pull'>;
