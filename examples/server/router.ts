/**
 * Maps a request (method and raw path) to its handler. The JSON API lives under `/v1/`, plus
 * `/health` and `/metrics`; every other path is a classic key (`PUT`/`GET /<key>`) or, when it
 * is a number, a member id (`POST`/`DELETE /<id>`).
 */
import type { Metrics } from '../../lib/metrics.js'
import type { Handler, RouteName } from './context.js'
import { decodePath, HttpError, notFound } from './http-api.js'
import { deleteClassicMember, getClassic, isClassicKey, postClassicMember, putClassic } from './routes-classic.js'
import { deleteMember, getHealth, getMembers, getMetrics, getStatus, memberId, postLeader, postMember, promoteMember } from './routes-cluster.js'
import { deleteKv, getKv, postCompact, postTxn, putKv } from './routes-kv.js'
import { getLease, listLeases, postLease } from './routes-lease.js'
import { serveWatch } from './watch-sse.js'

/** What the router needs besides the request. */
export interface RouterDeps {
  readonly metrics: Metrics
  readonly clusterId: string
  readonly watchKeepaliveMs: number
  /** `GET /v1/snapshot`, when the server can serve one. */
  readonly snapshot?: Handler
}

/** A matched route: its name (for metrics), its handler, and whether it streams (no deadline). */
export interface Route {
  readonly name: RouteName
  readonly handler: Handler
  readonly streaming?: boolean
}

type Methods = Partial<Record<string, Route>>

function pick(method: string, path: string, methods: Methods): Route {
  const route = methods[method]
  if (route) return route
  const allowed = Object.keys(methods).join(', ')
  throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on ${path} (allowed: ${allowed})`, { allowed: Object.keys(methods) })
}

/** Finds the route for `method` on `rawPath` (still percent-encoded); throws 404 / 405 / 400. */
export function route(method: string, rawPath: string, deps: RouterDeps): Route {
  if (rawPath === '/health') return pick(method, rawPath, { GET: { name: 'GET /health', handler: getHealth } })
  if (rawPath === '/metrics') return pick(method, rawPath, { GET: { name: 'GET /metrics', handler: (ctx) => getMetrics(ctx, deps.metrics) } })
  if (rawPath === '/v1' || rawPath.startsWith('/v1/')) return routeV1(method, rawPath, deps)

  const key = decodePath(rawPath.slice(1))
  if (/^\d+$/.test(key) && (method === 'POST' || method === 'DELETE')) {
    return method === 'POST'
      ? { name: 'POST /<id>', handler: (ctx) => postClassicMember(ctx, key) }
      : { name: 'DELETE /<id>', handler: (ctx) => deleteClassicMember(ctx, key) }
  }
  if (!isClassicKey(key)) throw notFound(key === '' ? 'no key in the path (PUT /<key>, GET /<key>)' : `${rawPath} is not a key of the classic API`)
  return pick(method, rawPath, {
    GET: { name: 'GET /<key>', handler: (ctx) => getClassic(ctx, key) },
    PUT: { name: 'PUT /<key>', handler: (ctx) => putClassic(ctx, key) },
  })
}

function routeV1(method: string, rawPath: string, deps: RouterDeps): Route {
  const rest = rawPath.slice('/v1/'.length)
  if (rawPath === '/v1/kv' || rest.startsWith('kv/')) {
    const key = decodePath(rest.slice(3))
    return pick(method, rawPath, {
      GET: { name: 'GET /v1/kv', handler: (ctx) => getKv(ctx, key) },
      PUT: { name: 'PUT /v1/kv', handler: (ctx) => putKv(ctx, key) },
      DELETE: { name: 'DELETE /v1/kv', handler: (ctx) => deleteKv(ctx, key) },
    })
  }
  const parts = rest.split('/')
  switch (parts[0]) {
    case 'txn':
      if (parts.length === 1) return pick(method, rawPath, { POST: { name: 'POST /v1/txn', handler: postTxn } })
      break
    case 'compact':
      if (parts.length === 1) return pick(method, rawPath, { POST: { name: 'POST /v1/compact', handler: postCompact } })
      break
    case 'lease':
      if (parts.length === 2 && /^\d+$/.test(parts[1])) {
        return pick(method, rawPath, { GET: { name: 'GET /v1/lease/<id>', handler: (ctx) => getLease(ctx, parts[1]) } })
      }
      if (parts.length === 2 && ['grant', 'revoke', 'keepalive'].includes(parts[1])) {
        return pick(method, rawPath, { POST: { name: `POST /v1/lease/${parts[1]}`, handler: (ctx) => postLease(ctx, parts[1]) } })
      }
      break
    case 'leases':
      if (parts.length === 1) return pick(method, rawPath, { GET: { name: 'GET /v1/leases', handler: listLeases } })
      break
    case 'watch':
      if (parts.length === 1) {
        return pick(method, rawPath, { GET: { name: 'GET /v1/watch', handler: (ctx) => serveWatch(ctx, deps.watchKeepaliveMs), streaming: true } })
      }
      break
    case 'members':
      if (parts.length === 1) {
        return pick(method, rawPath, { GET: { name: 'GET /v1/members', handler: getMembers }, POST: { name: 'POST /v1/members', handler: postMember } })
      }
      if (parts.length === 2) {
        const id = memberId(parts[1])
        return pick(method, rawPath, { DELETE: { name: 'DELETE /v1/members/<id>', handler: (ctx) => deleteMember(ctx, id) } })
      }
      if (parts.length === 3 && parts[2] === 'promote') {
        const id = memberId(parts[1])
        return pick(method, rawPath, { POST: { name: 'POST /v1/members/<id>/promote', handler: (ctx) => promoteMember(ctx, id) } })
      }
      break
    case 'leader':
      if (parts.length === 1) return pick(method, rawPath, { POST: { name: 'POST /v1/leader', handler: postLeader } })
      break
    case 'status':
      if (parts.length === 1) return pick(method, rawPath, { GET: { name: 'GET /v1/status', handler: (ctx) => getStatus(ctx, deps.clusterId) } })
      break
    case 'snapshot':
      if (parts.length === 1 && deps.snapshot) return pick(method, rawPath, { GET: { name: 'GET /v1/snapshot', handler: deps.snapshot, streaming: true } })
      break
  }
  throw notFound(`no route ${rawPath}`)
}
