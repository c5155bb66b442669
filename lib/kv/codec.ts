/**
 * Encodes and decodes {@link Envelope}s for the Raft log with msgpackr, checking every field:
 * a malformed command is refused with a `TypeError` before it is proposed (by `encodeEnvelope`)
 * and, should one reach the log anyway, when it is decoded (by `decodeEnvelope`).
 *
 * @module
 */
import { Packr } from 'msgpackr'
import { isBytes, plain, SlabPool, toLatin1 } from './bytes.js'
import { inRange } from './key-range.js'
import { packSimple } from './msgpack-lite.js'
import type {
  Command,
  Compare,
  CompareResult,
  DeleteRangeCommand,
  Envelope,
  PutCommand,
  RangeCommand,
  SortOrder,
  SortTarget,
  TxnOp,
} from './commands.js'

// NB: records off, so an entry decodes on any replica without shared structure definitions.
const packr = new Packr({ useRecords: false, mapsAsObjects: true })

/**
 * Envelopes stay as long as their entry stays in the log's memory: their own slabs, so that they
 * do not keep alive the short-lived bytes a shared slab would hold beside them.
 */
const envelopeSlabs = new SlabPool()
const envelopeBytes = (n: number): Uint8Array => envelopeSlabs.alloc(n)

/** Validates and encodes an envelope for `propose()` (msgpackr's bytes, by the short path where it can). */
export function encodeEnvelope(envelope: Envelope): Uint8Array {
  const valid = validateEnvelope(envelope)
  return packSimple(valid, envelopeBytes) ?? plain(packr.pack(valid))
}

/** Decodes and validates an envelope from a log entry's data; throws a `TypeError` if malformed. */
export function decodeEnvelope(data: Uint8Array): Envelope {
  let raw: unknown
  try {
    raw = packr.unpack(data)
  } catch (error) {
    throw new TypeError(`not a msgpack-encoded command: ${(error as Error).message}`)
  }
  return validateEnvelope(raw)
}

type Obj = Record<string, unknown>

function fail(path: string, what: string): never {
  throw new TypeError(`${path} ${what}`)
}

function object(value: unknown, path: string): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || isBytes(value)) fail(path, 'must be an object')
  return value as Obj
}

function array(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) fail(path, 'must be an array')
  return value
}

function bytes(value: unknown, path: string): Uint8Array {
  if (!isBytes(value)) fail(path, 'must be a Uint8Array')
  return plain(value)
}

function key(value: unknown, path: string): Uint8Array {
  const k = bytes(value, path)
  if (k.length === 0) fail(path, 'must not be empty')
  return k
}

function optionalBytes(value: unknown, path: string): Uint8Array | undefined {
  return value === undefined || value === null ? undefined : bytes(value, path)
}

function natural(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) fail(path, 'must be a non-negative safe integer')
  return value
}

function positive(value: unknown, path: string): number {
  const n = natural(value, path)
  if (n === 0) fail(path, 'must be positive')
  return n
}

function optionalNatural(value: unknown, path: string): number | undefined {
  return value === undefined || value === null ? undefined : natural(value, path)
}

function flag(value: unknown, path: string): boolean | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'boolean') fail(path, 'must be a boolean')
  return value
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], path: string): T {
  if (!allowed.includes(value as T)) fail(path, `must be one of ${allowed.join(', ')}`)
  return value as T
}

/** Drops undefined fields, so that encode → decode gives back an equal object. */
function compact<T extends object>(value: T): T {
  // A copy rather than `delete`, which would leave the object in V8's slow dictionary mode.
  const out = {} as T
  for (const name in value) if (value[name] !== undefined) out[name] = value[name]
  return out
}

const SORT_ORDERS: readonly SortOrder[] = ['none', 'ascend', 'descend']
const SORT_TARGETS: readonly SortTarget[] = ['key', 'version', 'createRevision', 'modRevision', 'value']
const COMPARE_RESULTS: readonly CompareResult[] = ['=', '!=', '<', '>']
const COMPARE_TARGETS = ['value', 'version', 'createRevision', 'modRevision', 'lease'] as const

/** Checks a range request (also what `MvccStore.range()` accepts) and returns a clean copy. */
export function validateRange(value: unknown, path = 'range'): RangeCommand {
  const o = object(value, path)
  return compact<RangeCommand>({
    type: 'range',
    key: key(o.key, `${path}.key`),
    rangeEnd: optionalBytes(o.rangeEnd, `${path}.rangeEnd`),
    revision: optionalNatural(o.revision, `${path}.revision`),
    limit: optionalNatural(o.limit, `${path}.limit`),
    keysOnly: flag(o.keysOnly, `${path}.keysOnly`),
    countOnly: flag(o.countOnly, `${path}.countOnly`),
    sortOrder: o.sortOrder === undefined ? undefined : oneOf(o.sortOrder, SORT_ORDERS, `${path}.sortOrder`),
    sortTarget: o.sortTarget === undefined ? undefined : oneOf(o.sortTarget, SORT_TARGETS, `${path}.sortTarget`),
    minModRevision: optionalNatural(o.minModRevision, `${path}.minModRevision`),
    maxModRevision: optionalNatural(o.maxModRevision, `${path}.maxModRevision`),
    minCreateRevision: optionalNatural(o.minCreateRevision, `${path}.minCreateRevision`),
    maxCreateRevision: optionalNatural(o.maxCreateRevision, `${path}.maxCreateRevision`),
  })
}

function validatePut(o: Obj, path: string): PutCommand {
  const ignoreValue = flag(o.ignoreValue, `${path}.ignoreValue`)
  const ignoreLease = flag(o.ignoreLease, `${path}.ignoreLease`)
  const value = optionalBytes(o.value, `${path}.value`)
  const lease = optionalNatural(o.lease, `${path}.lease`)
  // etcd refuses these as ErrGRPCValueProvided / ErrGRPCLeaseProvided.
  if (ignoreValue === true && value !== undefined && value.length > 0) fail(`${path}.value`, 'must be absent with ignoreValue')
  if (ignoreValue !== true && value === undefined) fail(`${path}.value`, 'must be a Uint8Array')
  if (ignoreLease === true && lease !== undefined && lease !== 0) fail(`${path}.lease`, 'must be absent with ignoreLease')
  return compact<PutCommand>({
    type: 'put',
    key: key(o.key, `${path}.key`),
    value: ignoreValue === true ? undefined : value,
    lease: lease === 0 ? undefined : lease,
    prevKv: flag(o.prevKv, `${path}.prevKv`),
    ignoreValue,
    ignoreLease,
  })
}

function validateDeleteRange(o: Obj, path: string): DeleteRangeCommand {
  return compact<DeleteRangeCommand>({
    type: 'deleteRange',
    key: key(o.key, `${path}.key`),
    rangeEnd: optionalBytes(o.rangeEnd, `${path}.rangeEnd`),
    prevKv: flag(o.prevKv, `${path}.prevKv`),
  })
}

function validateCompare(value: unknown, path: string): Compare {
  const o = object(value, path)
  const target = oneOf(o.target, COMPARE_TARGETS, `${path}.target`)
  const result = oneOf(o.result, COMPARE_RESULTS, `${path}.result`)
  const k = key(o.key, `${path}.key`)
  const rangeEnd = optionalBytes(o.rangeEnd, `${path}.rangeEnd`)
  if (target === 'value') return compact<Compare>({ key: k, rangeEnd, target, result, value: bytes(o.value, `${path}.value`) })
  return compact<Compare>({ key: k, rangeEnd, target, result, value: natural(o.value, `${path}.value`) })
}

function validateTxnOp(value: unknown, path: string): TxnOp {
  const o = object(value, path)
  switch (o.type) {
    case 'put':
      return validatePut(o, path)
    case 'deleteRange':
      return validateDeleteRange(o, path)
    case 'range':
      return validateRange(o, path)
    default:
      return fail(`${path}.type`, 'must be put, deleteRange or range')
  }
}

/**
 * etcd's `checkIntervals`: within one branch a key may be put once, and not also fall in a
 * deleted range, so that the order of the operations cannot matter for what the branch leaves.
 */
function checkIntervals(ops: readonly TxnOp[], path: string): void {
  const deletes = ops.filter((op): op is DeleteRangeCommand => op.type === 'deleteRange')
  const puts = new Set<string>()
  for (const op of ops) {
    if (op.type !== 'put') continue
    const id = toLatin1(op.key)
    if (puts.has(id)) fail(path, 'puts the same key twice (duplicate key given in txn request)')
    if (deletes.some((del) => inRange(op.key, del.key, del.rangeEnd))) fail(path, 'puts a key it also deletes (duplicate key given in txn request)')
    puts.add(id)
  }
}

function validateCommand(value: unknown, path: string): Command {
  const o = object(value, path)
  switch (o.type) {
    case 'put':
    case 'deleteRange':
    case 'range':
      return validateTxnOp(o, path)
    case 'txn': {
      const compare = array(o.compare ?? [], `${path}.compare`).map((c, i) => validateCompare(c, `${path}.compare[${i}]`))
      const success = array(o.success ?? [], `${path}.success`).map((op, i) => validateTxnOp(op, `${path}.success[${i}]`))
      const failure = array(o.failure ?? [], `${path}.failure`).map((op, i) => validateTxnOp(op, `${path}.failure[${i}]`))
      checkIntervals(success, `${path}.success`)
      checkIntervals(failure, `${path}.failure`)
      return { type: 'txn', compare, success, failure }
    }
    case 'compact':
      return { type: 'compact', revision: positive(o.revision, `${path}.revision`) }
    case 'leaseGrant':
      return { type: 'leaseGrant', id: positive(o.id, `${path}.id`), ttlSeconds: positive(o.ttlSeconds, `${path}.ttlSeconds`) }
    case 'leaseRevoke':
      return { type: 'leaseRevoke', id: positive(o.id, `${path}.id`) }
    case 'leaseCheckpoint':
      return {
        type: 'leaseCheckpoint',
        checkpoints: array(o.checkpoints, `${path}.checkpoints`).map((c, i) => {
          const cp = object(c, `${path}.checkpoints[${i}]`)
          return {
            id: positive(cp.id, `${path}.checkpoints[${i}].id`),
            remainingTtlMs: natural(cp.remainingTtlMs, `${path}.checkpoints[${i}].remainingTtlMs`),
          }
        }),
      }
    case 'leaseExpire':
      return { type: 'leaseExpire', ids: array(o.ids, `${path}.ids`).map((id, i) => positive(id, `${path}.ids[${i}]`)) }
    default:
      return fail(`${path}.type`, `is not a known command type (${String(o.type)})`)
  }
}

/** Checks an envelope and returns a clean copy (unknown fields dropped). */
export function validateEnvelope(value: unknown): Envelope {
  const o = object(value, 'envelope')
  if (typeof o.clientId !== 'string') fail('envelope.clientId', 'must be a string')
  const seq = natural(o.seq, 'envelope.seq')
  if (o.clientId !== '' && seq === 0) fail('envelope.seq', 'must be positive when clientId is set')
  return { clientId: o.clientId, seq, cmd: validateCommand(o.cmd, 'envelope.cmd') }
}
