/**
 * What every route handler is given: the node, the request and its answer, and the request's
 * bounds (its body limit, and a signal that fires at its deadline or when the client goes away).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { MetastoreNode } from '../../lib/node/create-node.js'
import type { Log } from './log.js'

export interface RequestContext {
  readonly node: MetastoreNode<unknown>
  readonly req: IncomingMessage
  readonly res: ServerResponse
  /** The path as sent (still percent-encoded), without the query. */
  readonly rawPath: string
  readonly query: URLSearchParams
  /** Fires at the request deadline (`--request-timeout-ms`) or when the client disconnects. */
  readonly signal: AbortSignal
  readonly maxRequestBytes: number
  readonly log: Log
}

/** The route template a request matched, for metrics (`GET /v1/kv`, `PUT /<key>`, ...). */
export type RouteName = string

/** A handler answers the request, or throws (an HttpError, a MetastoreError, ...). */
export type Handler = (ctx: RequestContext) => Promise<void>
