/**
 * Checks the body of `POST /v1/txn` and turns it into the node's transaction request. Anything
 * malformed is refused with 400 INVALID, naming where it is (`success[2].put.key`).
 */
import type { KeySelector, TxnCompare, TxnRequestOp } from '../../lib/node/create-node.js'
import { invalid } from './http-api.js'

const TARGETS = ['value', 'version', 'createRevision', 'modRevision', 'lease'] as const
const OPS = ['=', '!=', '<', '>'] as const
/** Bounds a transaction's size before it reaches the node (etcd's --max-txn-ops is 128). */
export const MAX_TXN_OPS = 128

type Json = Record<string, unknown>

function object(v: unknown, where: string): Json {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalid(`${where} must be an object`)
  return v as Json
}

function only(o: Json, where: string, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw invalid(`${where}.${k} is not a known field`)
}

function string(v: unknown, where: string, allowEmpty = false): string {
  if (typeof v !== 'string' || (!allowEmpty && v === '')) throw invalid(`${where} must be a ${allowEmpty ? '' : 'non-empty '}string`)
  return v
}

function optionalBool(v: unknown, where: string): boolean | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'boolean') throw invalid(`${where} must be true or false`)
  return v
}

function optionalInt(v: unknown, where: string, min: number): number | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw invalid(`${where} must be an integer >= ${min}`)
  return v
}

/** `{ key, prefix?, end? }` as a key selector (the same rules as the query parameters). */
function selector(o: Json, where: string): KeySelector {
  const prefix = optionalBool(o.prefix, `${where}.prefix`) === true
  const end = o.end === undefined ? undefined : string(o.end, `${where}.end`)
  const key = string(o.key, `${where}.key`, prefix || end !== undefined)
  if (prefix && end !== undefined) throw invalid(`${where}: give prefix or end, not both`)
  if (prefix) return { prefix: key }
  if (end !== undefined) return key === '' && end === '\0' ? { prefix: '' } : { start: key === '' ? '\0' : key, end }
  return key
}

function compare(v: unknown, where: string): TxnCompare<unknown> {
  const c = object(v, where)
  only(c, where, ['key', 'prefix', 'end', 'target', 'op', 'value'])
  const target = c.target
  if (!TARGETS.includes(target as (typeof TARGETS)[number])) throw invalid(`${where}.target must be one of ${TARGETS.join(', ')}`)
  const op = c.op
  if (!OPS.includes(op as (typeof OPS)[number])) throw invalid(`${where}.op must be one of ${OPS.join(' ')}`)
  if (c.value === undefined) throw invalid(`${where}.value is missing`)
  if (target !== 'value' && (typeof c.value !== 'number' || !Number.isSafeInteger(c.value))) throw invalid(`${where}.value must be an integer for a ${String(target)} compare`)
  return { key: selector(c, where), target: target as TxnCompare<unknown>['target'], op: op as TxnCompare<unknown>['op'], value: c.value }
}

function operation(v: unknown, where: string): TxnRequestOp<unknown> {
  const o = object(v, where)
  const kinds = Object.keys(o)
  if (kinds.length !== 1) throw invalid(`${where} must have exactly one of put, delete, get`)
  const kind = kinds[0]
  const body = object(o[kind], `${where}.${kind}`)
  const at = `${where}.${kind}`
  switch (kind) {
    case 'put': {
      only(body, at, ['key', 'value', 'lease', 'prevKv'])
      if (body.value === undefined) throw invalid(`${at}.value is missing`)
      const lease = optionalInt(body.lease, `${at}.lease`, 0)
      return { put: { key: string(body.key, `${at}.key`), value: body.value, ...(lease ? { lease } : {}), prevKv: optionalBool(body.prevKv, `${at}.prevKv`) } }
    }
    case 'delete':
      only(body, at, ['key', 'prefix', 'end', 'prevKv'])
      return { delete: { key: selector(body, at), prevKv: optionalBool(body.prevKv, `${at}.prevKv`) } }
    case 'get':
      only(body, at, ['key', 'prefix', 'end', 'limit', 'keysOnly', 'countOnly'])
      return {
        get: {
          key: selector(body, at),
          limit: optionalInt(body.limit, `${at}.limit`, 0) || undefined,
          keysOnly: optionalBool(body.keysOnly, `${at}.keysOnly`),
          countOnly: optionalBool(body.countOnly, `${at}.countOnly`),
        },
      }
    default:
      throw invalid(`${where} must be one of put, delete, get (not ${JSON.stringify(kind)})`)
  }
}

function list<T>(v: unknown, where: string, each: (x: unknown, where: string) => T): T[] {
  if (v === undefined) return []
  if (!Array.isArray(v)) throw invalid(`${where} must be an array`)
  return v.map((x, i) => each(x, `${where}[${i}]`))
}

/** The node's transaction request for a `POST /v1/txn` body. */
export function parseTxn(body: Json): {
  compare: TxnCompare<unknown>[]
  success: TxnRequestOp<unknown>[]
  failure: TxnRequestOp<unknown>[]
} {
  only(body, 'txn', ['compare', 'success', 'failure'])
  const compares = list(body.compare, 'compare', compare)
  const success = list(body.success, 'success', operation)
  const failure = list(body.failure, 'failure', operation)
  if (compares.length > MAX_TXN_OPS || success.length > MAX_TXN_OPS || failure.length > MAX_TXN_OPS) {
    throw invalid(`a transaction has at most ${MAX_TXN_OPS} compares and ${MAX_TXN_OPS} operations per branch`)
  }
  return { compare: compares, success, failure }
}
