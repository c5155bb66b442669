/**
 * The lease routes of the JSON API: grant, revoke, keepalive (`POST /v1/lease/<verb>`), one
 * lease's time to live (`GET /v1/lease/<id>`) and the list (`GET /v1/leases`). TTLs are seconds.
 */
import type { RequestContext } from './context.js'
import { HttpError, intField, intValue, Query, readJsonObject, sendJson } from './http-api.js'

/** The longest TTL a lease may be granted (a year): past it, a typo more likely than intent. */
const MAX_TTL_SECONDS = 365 * 24 * 3600

export async function postLease(ctx: RequestContext, verb: string): Promise<void> {
  new Query(ctx.query, [])
  const body = await readJsonObject(ctx.req, ctx.maxRequestBytes)
  switch (verb) {
    case 'grant': {
      const ttl = intField(body, 'ttl', 1)
      if (ttl > MAX_TTL_SECONDS) throw new HttpError(400, 'INVALID', `ttl must be at most ${MAX_TTL_SECONDS} seconds`)
      const r = await ctx.node.lease.grant(ttl, { signal: ctx.signal })
      sendJson(ctx.res, 200, { id: r.id, ttl: r.ttlSeconds })
      return
    }
    case 'revoke': {
      const r = await ctx.node.lease.revoke(intField(body, 'id', 1), { signal: ctx.signal })
      sendJson(ctx.res, 200, r)
      return
    }
    case 'keepalive': {
      const r = await ctx.node.lease.keepAlive(intField(body, 'id', 1), { signal: ctx.signal })
      sendJson(ctx.res, 200, { id: r.id, ttl: r.ttlSeconds })
      return
    }
    default:
      throw new HttpError(404, 'NOT_FOUND', `no lease operation ${JSON.stringify(verb)} (grant, revoke, keepalive)`)
  }
}

/** `GET /v1/lease/<id>` → `{ id, ttl, remainingMs, keys }`, or 404 LEASE_NOT_FOUND. */
export async function getLease(ctx: RequestContext, rawId: string): Promise<void> {
  new Query(ctx.query, [])
  const id = intValue(rawId, 'the lease id', 1)
  const info = await ctx.node.lease.timeToLive(id)
  if (!info) throw new HttpError(404, 'LEASE_NOT_FOUND', `lease ${id} not found`, { leaseId: id })
  sendJson(ctx.res, 200, { id: info.id, ttl: info.ttlSeconds, remainingMs: Math.max(0, Math.round(info.remainingMs)), keys: info.keys })
}

/** `GET /v1/leases` → `{ leases: [id, ...] }`. */
export async function listLeases(ctx: RequestContext): Promise<void> {
  new Query(ctx.query, [])
  sendJson(ctx.res, 200, { leases: await ctx.node.lease.list() })
}
