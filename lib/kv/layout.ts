/**
 * Where the state machine keeps its data in the caller's database, and how its keys are built.
 *
 * ```
 * <prefix>!head          'head' -> { current, pending, staged? }   which generation is live
 * <prefix>!g<N>!meta      'state' -> applied index, revision, compact revision, ...
 * <prefix>!g<N>!key       user key -> the key's current value and metadata   (live keys only)
 * <prefix>!g<N>!rev       revision(8) sub(4) -> the key-value written there   (history, by revision)
 * <prefix>!g<N>!hist      escaped key, ~revision(8) -> sub(4) tombstone(1)   (history, by key, newest first)
 * <prefix>!g<N>!lease     lease id(8) -> ttl, last checkpointed remaining TTL
 * <prefix>!g<N>!lease-key lease id(8) user key -> ''                        (keys attached to a lease)
 * <prefix>!g<N>!dedup     client id -> last sequence and its result
 * ```
 *
 * A restore writes a new generation next to the live one and switches `head` in one write, so a
 * crash leaves one or the other; `head.pending` lists generations to be cleared, and
 * `head.staged` a complete snapshot written beside the live state, waiting to be installed.
 *
 * @module
 */
import type { AbstractSublevel } from 'abstract-level'
import type { LevelDatabase } from '../storage/level-database.js'
import { concatBytes, readUint32, readUint64, writeUint32, writeUint64 } from './bytes.js'

/** A sublevel with `Uint8Array` keys and values. */
export type ByteSublevel = AbstractSublevel<LevelDatabase, string | Uint8Array, Uint8Array, Uint8Array>

/** The sublevels of one generation of the state. */
export interface Generation {
  readonly id: number
  /** The whole generation, for snapshots: its iterator yields every sublevel's records. */
  readonly all: ByteSublevel
  readonly meta: ByteSublevel
  readonly key: ByteSublevel
  readonly rev: ByteSublevel
  readonly hist: ByteSublevel
  readonly lease: ByteSublevel
  readonly leaseKey: ByteSublevel
  readonly dedup: ByteSublevel
}

/** The name of each sublevel of a generation. */
export type SublevelName = 'meta' | 'key' | 'rev' | 'hist' | 'lease' | 'leaseKey' | 'dedup'

/** Every sublevel name, in a fixed order (batch operations are emitted in this order). */
export const SUBLEVEL_NAMES: readonly SublevelName[] = ['meta', 'key', 'rev', 'hist', 'lease', 'leaseKey', 'dedup']

const BYTES = { keyEncoding: 'view', valueEncoding: 'view' } as const

/** The state machine's root sublevel and its `head` record. */
export interface Root {
  readonly db: LevelDatabase
  readonly root: ByteSublevel
  readonly head: ByteSublevel
}

/** Opens (creates) the root sublevel `prefix` of `db`. */
export function rootLayout(db: LevelDatabase, prefix: string): Root {
  const root = db.sublevel<Uint8Array, Uint8Array>(prefix, BYTES) as ByteSublevel
  return { db, root, head: root.sublevel<Uint8Array, Uint8Array>('head', BYTES) as ByteSublevel }
}

/** The sublevels of generation `id`. */
export function generationLayout(root: Root, id: number): Generation {
  const all = root.root.sublevel<Uint8Array, Uint8Array>(`g${id}`, BYTES) as ByteSublevel
  const sub = (name: string): ByteSublevel => all.sublevel<Uint8Array, Uint8Array>(name, BYTES) as ByteSublevel
  return {
    id,
    all,
    meta: sub('meta'),
    key: sub('key'),
    rev: sub('rev'),
    hist: sub('hist'),
    lease: sub('lease'),
    leaseKey: sub('lease-key'),
    dedup: sub('dedup'),
  }
}

/** `key` with the whole prefix of `sublevel`: a key of the root database (see {@link rootDatabase}). */
export function prefixedKey(sublevel: ByteSublevel, key: Uint8Array): Uint8Array {
  return (sublevel as unknown as { prefixKey(key: Uint8Array, format: 'view', local: boolean): Uint8Array }).prefixKey(key, 'view', false)
}

/** The database at the top of `sublevel`'s chain of parents, where {@link prefixedKey} keys live. */
export function rootDatabase(sublevel: ByteSublevel): LevelDatabase {
  return sublevel.db as LevelDatabase
}

/** The key of the one record of `head`. */
export const HEAD_KEY: Uint8Array = new TextEncoder().encode('head')
/** The key of the one record of `meta`. */
export const STATE_KEY: Uint8Array = new TextEncoder().encode('state')

const MAX_SUB = 0xffffffff

/** `rev` key: revision and sub-revision, big-endian, so records sort in the order they were written. */
export function revKey(revision: number, sub: number): Uint8Array {
  const out = new Uint8Array(12)
  writeUint64(out, 0, revision)
  writeUint32(out, 8, sub)
  return out
}

/** The last possible `rev` key of `revision` (inclusive upper bound of a revision). */
export function revKeyEnd(revision: number): Uint8Array {
  return revKey(revision, MAX_SUB)
}

/** Decodes a `rev` key. */
export function parseRevKey(key: Uint8Array): { revision: number; sub: number } {
  return { revision: readUint64(key, 0), sub: readUint32(key, 8) }
}

/**
 * The order-preserving, self-delimiting form of a user key used in front of the `hist` keys:
 * each 0x00 byte becomes 0x00 0xff and the key ends with 0x00 0x01. Any two keys then compare
 * as the user keys do, whatever follows them, and a key is never a prefix of another's form.
 */
export function escapeKey(key: Uint8Array): Uint8Array {
  let zeros = 0
  for (const byte of key) if (byte === 0) zeros++
  const out = new Uint8Array(key.length + zeros + 2)
  let j = 0
  for (const byte of key) {
    out[j++] = byte
    if (byte === 0) out[j++] = 0xff
  }
  out[j++] = 0
  out[j] = 1
  return out
}

/** Splits a `hist` key into the escaped user key (with its terminator) and the revision. */
export function parseHistKey(key: Uint8Array): { escaped: Uint8Array; revision: number } {
  const escaped = key.subarray(0, key.length - 8)
  return { escaped, revision: Number.MAX_SAFE_INTEGER - readUint64(key, key.length - 8) }
}

/** The user key of an escaped key (see {@link escapeKey}). */
export function unescapeKey(escaped: Uint8Array): Uint8Array {
  const out = new Uint8Array(escaped.length)
  let j = 0
  for (let i = 0; i < escaped.length - 2; i++) {
    out[j++] = escaped[i]
    if (escaped[i] === 0) i++
  }
  return out.slice(0, j)
}

/**
 * `hist` key: escaped user key, then the revision subtracted from 2^53 - 1, so that the history
 * of a key reads newest first and "the latest version at or before R" is the first record at or
 * after `histKey(key, R)`.
 */
export function histKey(escaped: Uint8Array, revision: number): Uint8Array {
  const out = new Uint8Array(escaped.length + 8)
  out.set(escaped, 0)
  writeUint64(out, escaped.length, Number.MAX_SAFE_INTEGER - revision)
  return out
}

/** An upper bound above every `hist` key of the key `escaped` (revision 0 does not exist). */
export function histKeyEnd(escaped: Uint8Array): Uint8Array {
  return histKey(escaped, 0)
}

/** 8-byte big-endian lease id. */
export function leaseIdKey(id: number): Uint8Array {
  const out = new Uint8Array(8)
  writeUint64(out, 0, id)
  return out
}

/** `lease-key` key: lease id then the user key. */
export function leaseKeyKey(id: number, key: Uint8Array): Uint8Array {
  return concatBytes(leaseIdKey(id), key)
}

/** The bounds of a lease's attached keys in `lease-key`. */
export function leaseKeyBounds(id: number): { gte: Uint8Array; lt: Uint8Array } {
  return { gte: leaseIdKey(id), lt: leaseIdKey(id + 1) }
}
