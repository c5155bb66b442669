/**
 * The key-value routes of the JSON API: `/v1/kv/<key>` (GET one key or a range, PUT, DELETE),
 * `POST /v1/txn` and `POST /v1/compact`.
 */
import type { KeySelector, RangeOptions } from '../../lib/node/create-node.js'
import type { SortOrder, SortTarget } from '../../lib/kv/commands.js'
import type { RequestContext } from './context.js'
import { HttpError, intField, invalid, Query, readBody, readJsonObject, sendJson } from './http-api.js'
import { parseTxn } from './txn-body.js'

const SORT_TARGETS: readonly SortTarget[] = ['key', 'version', 'createRevision', 'modRevision', 'value']
const SORT_ORDERS: readonly SortOrder[] = ['ascend', 'descend']

/**
 * What `prefix=true`, `end=<key>` or `fromKey=true` make of a key: a range, or undefined for the
 * key alone. An empty key is allowed only as a range's start.
 */
export function rangeOf(key: string, q: Query): KeySelector | undefined {
  const prefix = q.bool('prefix')
  const end = q.string('end')
  const fromKey = q.bool('fromKey')
  if (Number(prefix) + Number(end !== undefined) + Number(fromKey) > 1) throw invalid('give at most one of prefix, end and fromKey')
  if (prefix) return { prefix: key }
  if (fromKey) return key === '' ? { prefix: '' } : { start: key, end: '\0' }
  if (end !== undefined) {
    if (end === '') throw invalid('end must not be empty (use fromKey=true for every key from the start)')
    // The empty key cannot exist: a range from it starts at the smallest key there can be.
    return { start: key === '' ? '\0' : key, end }
  }
  if (key === '') throw invalid('the key is empty (use prefix=true to list every key)')
  return undefined
}

/** `GET /v1/kv/<key>`: one key (`{ kv, revision }`) or a range (`{ kvs, count, more, revision }`). */
export async function getKv(ctx: RequestContext, key: string): Promise<void> {
  const q = new Query(ctx.query, ['revision', 'serializable', 'prefix', 'end', 'fromKey', 'limit', 'keysOnly', 'countOnly', 'sort', 'order'])
  const selector = rangeOf(key, q)
  const read = { revision: q.int('revision') || undefined, serializable: q.bool('serializable'), signal: ctx.signal }
  if (selector === undefined) {
    for (const name of ['limit', 'keysOnly', 'countOnly', 'sort', 'order']) {
      if (ctx.query.has(name)) throw invalid(`${name} needs a range (prefix, end or fromKey)`)
    }
    // One read gives the key and the revision it was read at.
    const r = await ctx.node.kv.range({ start: key, ...read })
    if (r.kvs.length === 0) throw new HttpError(404, 'KEY_NOT_FOUND', `key ${JSON.stringify(key)} not found`, { revision: r.revision })
    sendJson(ctx.res, 200, { kv: r.kvs[0], revision: r.revision })
    return
  }
  const target = q.oneOf('sort', SORT_TARGETS)
  const order = q.oneOf('order', SORT_ORDERS)
  const options: RangeOptions = {
    ...(typeof selector === 'string' ? { start: selector } : selector),
    ...read,
    limit: q.int('limit', 0) || undefined,
    keysOnly: q.bool('keysOnly'),
    countOnly: q.bool('countOnly'),
    ...(target !== undefined || order !== undefined ? { sort: { target: target ?? 'key', order: order ?? 'ascend' } } : {}),
  }
  const r = await ctx.node.kv.range(options)
  sendJson(ctx.res, 200, { kvs: r.kvs, count: r.count, more: r.more, revision: r.revision })
}

/** Whether a request says its body is JSON. */
export function isJson(ctx: RequestContext): boolean {
  const type = ctx.req.headers['content-type']
  return type !== undefined && /^application\/json\s*(;|$)/i.test(type)
}

/** `PUT /v1/kv/<key>`: a JSON body is a JSON value; any other body is a string. */
export async function putKv(ctx: RequestContext, key: string): Promise<void> {
  const q = new Query(ctx.query, ['lease', 'prevKv'])
  if (key === '') throw invalid('the key is empty')
  const lease = q.int('lease', 1)
  const prevKv = q.bool('prevKv')
  const text = await readBody(ctx.req, ctx.maxRequestBytes)
  let value: unknown = text
  if (isJson(ctx)) {
    try {
      value = JSON.parse(text)
    } catch (err) {
      throw invalid(`the body is not JSON: ${(err as Error).message}`)
    }
  }
  const r = await ctx.node.kv.put(key, value, { lease, prevKv, signal: ctx.signal })
  sendJson(ctx.res, 200, r)
}

/** `DELETE /v1/kv/<key>` (or a range): `{ revision, deleted, prevKvs? }`. */
export async function deleteKv(ctx: RequestContext, key: string): Promise<void> {
  const q = new Query(ctx.query, ['prefix', 'end', 'fromKey', 'prevKv'])
  const selector = rangeOf(key, q) ?? key
  const r = await ctx.node.kv.delete(selector, { prevKv: q.bool('prevKv'), signal: ctx.signal })
  sendJson(ctx.res, 200, r)
}

/** `POST /v1/txn`: `{ compare, success, failure }` → `{ succeeded, revision, responses }`. */
export async function postTxn(ctx: RequestContext): Promise<void> {
  new Query(ctx.query, [])
  const body = await readJsonObject(ctx.req, ctx.maxRequestBytes)
  const r = await ctx.node.kv.txn({ ...parseTxn(body), signal: ctx.signal })
  sendJson(ctx.res, 200, r)
}

/** `POST /v1/compact`: `{ revision }` → `{ compactRevision }`. */
export async function postCompact(ctx: RequestContext): Promise<void> {
  new Query(ctx.query, [])
  const body = await readJsonObject(ctx.req, ctx.maxRequestBytes)
  const r = await ctx.node.kv.compact(intField(body, 'revision', 1), { signal: ctx.signal })
  sendJson(ctx.res, 200, r)
}
