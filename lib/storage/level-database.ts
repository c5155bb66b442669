/**
 * The database types the store accepts and the sublevels it lays out in them.
 *
 * @module
 */
import type { AbstractBatchOperation, AbstractBatchOptions, AbstractLevel, AbstractSublevel } from 'abstract-level'

/**
 * Any `abstract-level` database: memory-level, classic-level, the built-in RocksDB adapter, or a
 * user's own. NB: the type parameters are `any` because abstract-level's generic methods make
 * `AbstractLevel<X, string, string>` unassignable to any narrower common type; the store itself
 * only ever writes through sublevels with explicit `view`/`utf8` encodings.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type LevelDatabase = AbstractLevel<any, any, any>

/** A sublevel of a {@link LevelDatabase} with explicit key and value types. */
export type LevelSublevel<K, V> = AbstractSublevel<LevelDatabase, string | Buffer | Uint8Array, K, V>

/** The put and delete operations `save({ extraOps })` accepts, as `db.batch()` does. */
export type ExtraOperation = AbstractBatchOperation<LevelDatabase, unknown, unknown>

/** The sublevels of one store. */
export interface StoreLayout {
  readonly db: LevelDatabase
  /** Log chunks keyed by the big-endian index of their first entry. */
  readonly log: LevelSublevel<Uint8Array, Uint8Array>
  /** Small records: layout version, hard state, conf state, log start, snapshot metadata. */
  readonly state: LevelSublevel<string, Uint8Array>
  /** Snapshot data in pieces keyed by (snapshot index, piece number). */
  readonly snapshotData: LevelSublevel<Uint8Array, Uint8Array>
}

/** Creates the sublevels under `prefix` (one parent sublevel, so the state machine can sit beside it). */
export function storeLayout(db: LevelDatabase, prefix: string): StoreLayout {
  const root = db.sublevel(prefix)
  return {
    db,
    log: root.sublevel<Uint8Array, Uint8Array>('log', { keyEncoding: 'view', valueEncoding: 'view' }),
    state: root.sublevel<string, Uint8Array>('state', { keyEncoding: 'utf8', valueEncoding: 'view' }),
    snapshotData: root.sublevel<Uint8Array, Uint8Array>('snapshot-data', { keyEncoding: 'view', valueEncoding: 'view' }),
  }
}

/** The keys of the state sublevel. */
export const StateKey = {
  format: 'format',
  hardState: 'hard-state',
  confState: 'conf-state',
  logStart: 'log-start',
  snapshot: 'snapshot',
} as const

/** The on-disk layout version this code writes and reads. */
export const LAYOUT_VERSION = 1

/**
 * Batch options asking for a durable write. `sync` is honoured by classic-level and the RocksDB
 * adapter (and ignored by memory-level) but is missing from abstract-level's option types.
 */
export function syncOptions<K, V>(sync: boolean): AbstractBatchOptions<K, V> {
  return { sync } as unknown as AbstractBatchOptions<K, V>
}

/** Databases whose private `_batch` takes operations with byte keys and values as they are (classic-level). */
const rawBatchDatabases = new WeakSet<object>()

/** Marks `db` as one {@link writeBatch} may write to directly (a classic-level database this package opened). */
export function allowRawBatch(db: LevelDatabase): void {
  rawBatchDatabases.add(db)
}

/**
 * The private side of classic-level's chained batch: a native LevelDB `WriteBatch` that takes
 * each key and value as call arguments, where `_batch` reads them out of operation objects (about
 * 0.6 against 1.3–1.8 µs an operation on a small machine). Cleared, it can be written again.
 */
interface NativeBatch {
  _put(key: Uint8Array, value: Uint8Array): void
  _del(key: Uint8Array): void
  _write(options: { sync: boolean }): Promise<void>
  _clear(): void
}

/** Native batches kept for reuse, per database marked with {@link allowNativeBatch}. */
const nativeBatches = new WeakMap<object, NativeBatch[]>()
/** How many a database keeps (one in flight per writer: the log, the state machine, a snapshot). */
const KEPT_BATCHES = 4
/** A batch that held more than this is let go: a native batch keeps the size of its largest write. */
const KEPT_BATCH_BYTES = 1 << 20

/**
 * Marks `db` (a classic-level database this package opened, also marked with
 * {@link allowRawBatch}) as one whose writes go through reused native batches.
 */
export function allowNativeBatch(db: LevelDatabase): void {
  nativeBatches.set(db, [])
}

interface RawOperation {
  readonly type: 'put' | 'del'
  readonly key: Uint8Array
  readonly value?: Uint8Array
}

interface RawBatchDatabase {
  readonly status: string
  readonly hooks: { readonly prewrite: { readonly noop: boolean } }
  listenerCount(event: string): number
  _batch(operations: RawOperation[], options: { sync: boolean }): Promise<void>
}

const utf8 = new TextEncoder()
const BYTE_FORMATS = new Set(['view', 'buffer'])

function asBytes(encoded: unknown): Uint8Array | undefined {
  if (encoded instanceof Uint8Array) return encoded
  if (typeof encoded === 'string') return utf8.encode(encoded)
  return undefined
}

/** The operation for the root database, keys fully prefixed, or undefined if it cannot be made. */
function rawOperation(db: LevelDatabase, op: ExtraOperation): RawOperation | undefined {
  const o = op as { type: string; key: unknown; value?: unknown; sublevel?: LevelSublevel<unknown, unknown>; keyEncoding?: string; valueEncoding?: string }
  // Invalid operations take the general path, which refuses them with abstract-level's errors.
  if (o.key === null || o.key === undefined || (o.type === 'put' && (o.value === null || o.value === undefined))) return undefined
  let key: Uint8Array | undefined
  let value: Uint8Array | undefined
  if (o.sublevel === undefined || o.sublevel === null) {
    // Bytes as they are only where abstract-level would also write them as they are.
    const encodings = db as unknown as { keyEncoding(e?: string): { format: string }; valueEncoding(e?: string): { format: string } }
    if (!BYTE_FORMATS.has(encodings.keyEncoding(o.keyEncoding).format)) return undefined
    if (o.type === 'put' && !BYTE_FORMATS.has(encodings.valueEncoding(o.valueEncoding).format)) return undefined
    key = asBytes(o.key)
    value = o.type === 'put' ? asBytes(o.value) : undefined
    if (!(o.key instanceof Uint8Array) || (o.type === 'put' && !(o.value instanceof Uint8Array))) return undefined
  } else {
    // A sublevel of another database is written there unprefixed by abstract-level: not here.
    if ((o.sublevel as unknown as { db: unknown }).db !== db) return undefined
    const sub = o.sublevel as unknown as {
      keyEncoding(e?: string): { encode(k: unknown): unknown }
      valueEncoding(e?: string): { encode(v: unknown): unknown }
      prefixKey(key: Uint8Array, format: 'view', local: boolean): Uint8Array
    }
    const local = asBytes(sub.keyEncoding(o.keyEncoding).encode(o.key))
    if (local === undefined) return undefined
    key = sub.prefixKey(local, 'view', false)
    value = o.type === 'put' ? asBytes(sub.valueEncoding(o.valueEncoding).encode(o.value)) : undefined
  }
  if (key === undefined || (o.type === 'put' && value === undefined)) return undefined
  if (o.type === 'put') return { type: 'put', key, value }
  if (o.type === 'del') return { type: 'del', key }
  return undefined
}

/**
 * Writes `ops` as one atomic batch, durably when `sync`. To a database marked with
 * {@link allowRawBatch}, with no hooks or write listeners, the operations go to its `_batch`
 * with byte keys already prefixed, skipping abstract-level's per-operation copy and re-encoding
 * (measured at about a fifth of a replica's CPU under a put load); anything else goes through
 * `db.batch()`.
 */
export function writeBatch(db: LevelDatabase, ops: readonly ExtraOperation[], sync: boolean): Promise<void> {
  if (rawBatchDatabases.has(db)) {
    const raw = db as unknown as RawBatchDatabase
    if (raw.status === 'open' && raw.hooks.prewrite.noop && raw.listenerCount('write') === 0) {
      const out: RawOperation[] = new Array(ops.length)
      let ok = true
      for (let i = 0; i < ops.length && ok; i++) {
        const r = rawOperation(db, ops[i])
        if (r === undefined) ok = false
        else out[i] = r
      }
      if (ok) {
        if (ops.length === 0) return Promise.resolve()
        const kept = nativeBatches.get(db)
        return kept === undefined ? raw._batch(out, { sync }) : writeNative(db, kept, out, sync)
      }
    }
  }
  return db.batch(ops as ExtraOperation[], syncOptions(sync))
}

/**
 * Writes `ops` through a native batch, taken from `kept` or made, and puts it back once written
 * and cleared. A batch whose filling or write failed is let go (it may hold some of the operations).
 */
function writeNative(db: LevelDatabase, kept: NativeBatch[], ops: readonly RawOperation[], sync: boolean): Promise<void> {
  const owner = db as unknown as { _chainedBatch(): NativeBatch; detachResource(resource: unknown): void }
  const batch = kept.pop() ?? owner._chainedBatch()
  let bytes = 0
  try {
    for (const op of ops) {
      if (op.type === 'put') batch._put(op.key, op.value!)
      else batch._del(op.key)
      bytes += op.key.byteLength + (op.value?.byteLength ?? 0)
    }
  } catch (err) {
    owner.detachResource(batch)
    return Promise.reject(err)
  }
  return batch._write({ sync }).then(
    () => {
      batch._clear()
      if (bytes <= KEPT_BATCH_BYTES && kept.length < KEPT_BATCHES) kept.push(batch)
      else owner.detachResource(batch)
    },
    (err: unknown) => {
      owner.detachResource(batch)
      throw err
    },
  )
}
