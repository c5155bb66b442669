/**
 * The values stored in each sublevel (see `layout.ts`), encoded with msgpackr as small arrays.
 *
 * @module
 */
import { Packr } from 'msgpackr'
import { EMPTY, plain, readUint32, writeUint32 } from './bytes.js'
import { packSimple } from './msgpack-lite.js'
import type { CommandResult, KeyValue } from './results.js'

const packr = new Packr({ useRecords: false, mapsAsObjects: true })

/**
 * Encodes any record with the store's msgpackr settings; the records of the write path take the
 * short path of `msgpack-lite.ts`, which writes the same bytes.
 */
export function pack(value: unknown): Uint8Array {
  return packSimple(value) ?? plain(packr.pack(value))
}

/** Decodes a record encoded by {@link pack}. */
export function unpack<T>(bytes: Uint8Array): T {
  return packr.unpack(bytes) as T
}

/** The store's counters, one record in `meta`. */
export interface MetaState {
  /** Layout version of this code. */
  readonly format: number
  /** The last log index whose effects are in the store. Invariant: written with those effects. */
  readonly appliedIndex: number
  /** The revision of the last write (1 in a new store, as in etcd). */
  readonly revision: number
  /** Reads before this revision are refused; 0 until the first compaction. */
  readonly compactRevision: number
  /**
   * How far old versions have been physically removed. Invariant: `compactedThrough <=
   * compactRevision`; below `compactRevision` the store refuses reads, so what is still there
   * is never seen and removing it is not part of the replicated state.
   */
  readonly compactedThrough: number
}

/** This code's layout version. */
export const FORMAT = 1

/** The state of a new store. */
export const INITIAL_META: MetaState = { format: FORMAT, appliedIndex: 0, revision: 1, compactRevision: 0, compactedThrough: 0 }

/** Encodes the `meta` record. */
export function encodeMeta(meta: MetaState): Uint8Array {
  return pack([meta.format, meta.appliedIndex, meta.revision, meta.compactRevision, meta.compactedThrough])
}

/** Decodes the `meta` record. */
export function decodeMeta(bytes: Uint8Array): MetaState {
  const [format, appliedIndex, revision, compactRevision, compactedThrough] = unpack<number[]>(bytes)
  return { format, appliedIndex, revision, compactRevision, compactedThrough }
}

/** A live key's current state (`key` sublevel): value, create revision, mod revision, version, lease. */
export function encodeCurrent(kv: KeyValue): Uint8Array {
  return pack([kv.value, kv.createRevision, kv.modRevision, kv.version, kv.lease])
}

/** Decodes a `key` record of `key`. */
export function decodeCurrent(key: Uint8Array, bytes: Uint8Array): KeyValue {
  return { key: plain(key), ...decodeCurrentFields(bytes) }
}

/** The fields of a `key` record; `value` is a view into `bytes`. */
export type CurrentFields = Omit<KeyValue, 'key'>

/** Decodes a `key` record without its key. */
export function decodeCurrentFields(bytes: Uint8Array): CurrentFields {
  const [value, createRevision, modRevision, version, lease] = unpack<[Uint8Array, number, number, number, number]>(bytes)
  return { value: plain(value), createRevision, modRevision, version, lease }
}

/**
 * A version of a key (`rev` sublevel): key, value, create revision, version, lease. The mod
 * revision is the record's own revision. A deletion is stored as version 0 (a tombstone).
 */
export function encodeRevision(kv: KeyValue): Uint8Array {
  return pack([kv.key, kv.value, kv.createRevision, kv.version, kv.lease])
}

/** Decodes a `rev` record written at `revision`. */
export function decodeRevision(revision: number, bytes: Uint8Array): KeyValue {
  const [key, value, createRevision, version, lease] = unpack<[Uint8Array, Uint8Array, number, number, number]>(bytes)
  return { key: plain(key), value: plain(value), createRevision, modRevision: revision, version, lease }
}

/** The key-value of a deletion event: only the key and the revision, as etcd reports it. */
export function tombstone(key: Uint8Array, revision: number): KeyValue {
  return { key, value: EMPTY, createRevision: 0, modRevision: revision, version: 0, lease: 0 }
}

/** A `hist` value: the sub-revision of the version (to find its `rev` record) and whether it is a deletion. */
export function encodeHist(sub: number, deleted: boolean): Uint8Array {
  const out = new Uint8Array(5)
  writeUint32(out, 0, sub)
  out[4] = deleted ? 1 : 0
  return out
}

/** Decodes a `hist` value. */
export function decodeHist(bytes: Uint8Array): { sub: number; deleted: boolean } {
  return { sub: readUint32(bytes, 0), deleted: bytes[4] === 1 }
}

/** A lease (`lease` sublevel). `remainingTtlMs` is the last checkpoint, or the full TTL. */
export interface LeaseRecord {
  readonly ttlSeconds: number
  readonly remainingTtlMs: number
}

/** Encodes a `lease` record. */
export function encodeLease(lease: LeaseRecord): Uint8Array {
  return pack([lease.ttlSeconds, lease.remainingTtlMs])
}

/** Decodes a `lease` record. */
export function decodeLease(bytes: Uint8Array): LeaseRecord {
  const [ttlSeconds, remainingTtlMs] = unpack<[number, number]>(bytes)
  return { ttlSeconds, remainingTtlMs }
}

/** A dedup record: a client's last applied sequence and its result. */
export interface DedupRecord {
  /** The highest sequence applied, and its result (what a retry of it is answered). */
  readonly seq: number
  readonly result: CommandResult
  /** Every sequence at or below `floor` is settled: applied, or too old to tell. */
  readonly floor: number
  /** The sequences above `floor` that were applied, ascending (requests overtake each other). */
  readonly above: readonly number[]
}

/** Encodes a `dedup` record. */
export function encodeDedup(record: DedupRecord): Uint8Array {
  return pack([record.seq, record.result, record.floor, record.above])
}

/** Decodes a `dedup` record (its result with plain `Uint8Array`s). */
export function decodeDedup(bytes: Uint8Array): DedupRecord {
  const [seq, result, floor, above] = unpack<[number, CommandResult, number?, number[]?]>(bytes)
  return { seq, result: normalizeBytes(result), floor: floor ?? seq, above: above ?? [] }
}

/**
 * Head record: the live generation, the generations waiting to be cleared, and a generation
 * written from a snapshot stream, complete and checked, waiting to be installed.
 */
export interface HeadRecord {
  readonly current: number
  readonly pending: readonly number[]
  readonly staged?: number
}

/** Encodes the `head` record. */
export function encodeHead(head: HeadRecord): Uint8Array {
  return pack(head.staged === undefined ? [head.current, head.pending] : [head.current, head.pending, head.staged])
}

/** Decodes the `head` record. */
export function decodeHead(bytes: Uint8Array): HeadRecord {
  const [current, pending, staged] = unpack<[number, number[], number?]>(bytes)
  return staged === undefined ? { current, pending } : { current, pending, staged }
}

/** Replaces decoded `Buffer`s by plain `Uint8Array` views, deeply, so results look the same fresh or replayed. */
function normalizeBytes<T>(value: T): T {
  if (value instanceof Uint8Array) return plain(value) as T
  if (Array.isArray(value)) return value.map((item) => normalizeBytes(item)) as T
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {}
    for (const [name, item] of Object.entries(value)) out[name] = normalizeBytes(item)
    return out as T
  }
  return value
}
