/**
 * The classic routes, as raftexample serves them: `PUT /<key>` (the body is the value, stored as
 * a string), `GET /<key>` (the value as the body), `POST /<id>` (the body is the new member's
 * peer URL: it is added as a voter) and `DELETE /<id>`. Keys under `v1/`, and the paths `health`
 * and `metrics`, belong to the JSON API and are not reachable here.
 */
import type { RequestContext } from './context.js'
import { HttpError, Query, readBody, sendEmpty, sendText } from './http-api.js'
import { memberId, peerAddress } from './routes-cluster.js'

/** Whether a classic path names a key the classic routes may serve. */
export function isClassicKey(key: string): boolean {
  return key !== '' && !key.startsWith('v1/') && key !== 'health' && key !== 'metrics'
}

/** `PUT /<key>` → 204. */
export async function putClassic(ctx: RequestContext, key: string): Promise<void> {
  new Query(ctx.query, [])
  const value = await readBody(ctx.req, ctx.maxRequestBytes)
  await ctx.node.kv.put(key, value, { signal: ctx.signal })
  sendEmpty(ctx.res, 204)
}

/** `GET /<key>` → 200 with the value (a JSON value put through /v1 comes back as JSON text), or 404. */
export async function getClassic(ctx: RequestContext, key: string): Promise<void> {
  new Query(ctx.query, [])
  const kv = await ctx.node.kv.get(key, { signal: ctx.signal })
  if (!kv) throw new HttpError(404, 'KEY_NOT_FOUND', `key ${JSON.stringify(key)} not found`)
  if (typeof kv.value === 'string') sendText(ctx.res, 200, kv.value)
  else sendText(ctx.res, 200, JSON.stringify(kv.value) ?? '', 'application/json; charset=utf-8')
}

/** `POST /<id>` with the peer URL as the body → adds a voter → 204. */
export async function postClassicMember(ctx: RequestContext, rawId: string): Promise<void> {
  new Query(ctx.query, [])
  const id = memberId(rawId)
  const address = peerAddress(await readBody(ctx.req, ctx.maxRequestBytes))
  await ctx.node.addVoter(id, { address, signal: ctx.signal })
  sendEmpty(ctx.res, 204)
}

/** `DELETE /<id>` → removes the member → 204. */
export async function deleteClassicMember(ctx: RequestContext, rawId: string): Promise<void> {
  new Query(ctx.query, [])
  const id = memberId(rawId)
  if (!ctx.node.members().some((m) => m.id === id)) throw new HttpError(404, 'NOT_FOUND', `node ${id} is not a member`)
  await ctx.node.remove(id, { signal: ctx.signal })
  sendEmpty(ctx.res, 204)
}
