// Request/response typing for the client: which response type answers which request type.
import type { Request, Response } from '../protocol/index.ts';

export type RequestType = Request['type'];

/** The request frames before the connection assigns an id. */
export type RequestInput<T extends RequestType = RequestType> = Omit<Extract<Request, { type: T }>, 'id'>;

interface ResponseTypeOf {
  send: 'sendResult';
  pull: 'pullResult';
  commitOffset: 'ok';
  queryOffset: 'offset';
  searchOffset: 'offset';
  createTopic: 'ok';
  route: 'route';
  status: 'status';
  transferLeader: 'ok';
  brokerInfo: 'brokerInfo';
  viewMessage: 'messages';
  queryMessage: 'messages';
  members: 'members';
  memberChange: 'members';
}

/** The successful response to request type T (errors arrive as thrown RaftmqErrors). */
export type ResponseFor<T extends RequestType> = Extract<Response, { type: ResponseTypeOf[T] }>;

export type RouteResponse = ResponseFor<'route'>;
export type PullResponse = ResponseFor<'pull'>;
