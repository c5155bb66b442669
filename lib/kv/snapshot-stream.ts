/**
 * The snapshot stream format: a header chunk (what the snapshot holds), data chunks of raw
 * records of the state, bounded in size, and an end chunk that counts the records and carries a
 * SHA-256 of the data chunks, so that a truncated or damaged stream is refused before it
 * replaces anything.
 *
 * @module
 */
import { createHash } from 'node:crypto'
import type { Hash } from 'node:crypto'
import { bytesEqual, isBytes, plain } from './bytes.js'
import { InvalidSnapshotError } from './errors.js'
import { pack, unpack } from './records.js'

/** The stream's name, in its header. */
export const SNAPSHOT_FORMAT = 'metastore-kv-snapshot'
/** The stream's version, in its header; a reader refuses other versions. */
export const SNAPSHOT_VERSION = 1

/** Default upper bound of a data chunk's records, in bytes (a single larger record gets a chunk of its own). */
export const DEFAULT_CHUNK_BYTES = 1 << 20

/** What a snapshot holds, from its header chunk. */
export interface SnapshotHeader {
  readonly appliedIndex: number
  readonly revision: number
  readonly compactRevision: number
}

/** Encodes `records` as a snapshot stream. */
export async function* encodeSnapshot(
  header: SnapshotHeader,
  records: AsyncIterable<[Uint8Array, Uint8Array]>,
  chunkBytes: number = DEFAULT_CHUNK_BYTES,
): AsyncGenerator<Uint8Array> {
  yield pack({ kind: 'header', format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, ...header })
  const hash = createHash('sha256')
  let pairs: Uint8Array[] = []
  let size = 0
  let count = 0
  const flush = (): Uint8Array => {
    const chunk = pack({ kind: 'data', pairs })
    hash.update(chunk)
    pairs = []
    size = 0
    return chunk
  }
  for await (const [key, value] of records) {
    pairs.push(key, value)
    count++
    size += key.byteLength + value.byteLength + 10
    if (size >= chunkBytes) yield flush()
  }
  if (pairs.length > 0) yield flush()
  yield pack({ kind: 'end', records: count, sha256: plain(hash.digest()) })
}

/** A decoded chunk. */
export type SnapshotChunk =
  | { readonly kind: 'header'; readonly header: SnapshotHeader }
  | { readonly kind: 'data'; readonly pairs: ReadonlyArray<readonly [Uint8Array, Uint8Array]> }
  | { readonly kind: 'end' }

function count(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new InvalidSnapshotError(`${what} is not a count`)
  return value
}

/** Checks a stream chunk by chunk: order, shapes, record count and checksum. */
export class SnapshotReader {
  #header: SnapshotHeader | undefined
  #ended = false
  #records = 0
  readonly #hash: Hash = createHash('sha256')

  /** The header, once read. */
  get header(): SnapshotHeader | undefined {
    return this.#header
  }

  /** Whether the end chunk was read and matched. */
  get complete(): boolean {
    return this.#ended
  }

  read(chunk: Uint8Array): SnapshotChunk {
    if (!isBytes(chunk)) throw new InvalidSnapshotError('a snapshot chunk is not a Uint8Array')
    if (this.#ended) throw new InvalidSnapshotError('data after the end of the snapshot')
    let raw: Record<string, unknown>
    try {
      raw = unpack<Record<string, unknown>>(chunk)
    } catch (error) {
      throw new InvalidSnapshotError(`undecodable snapshot chunk: ${(error as Error).message}`)
    }
    if (typeof raw !== 'object' || raw === null) throw new InvalidSnapshotError('a snapshot chunk is not an object')
    if (this.#header === undefined) {
      if (raw.kind !== 'header' || raw.format !== SNAPSHOT_FORMAT) throw new InvalidSnapshotError('the snapshot does not start with its header')
      if (raw.version !== SNAPSHOT_VERSION) throw new InvalidSnapshotError(`unsupported snapshot version ${String(raw.version)}`)
      this.#header = {
        appliedIndex: count(raw.appliedIndex, 'appliedIndex'),
        revision: count(raw.revision, 'revision'),
        compactRevision: count(raw.compactRevision, 'compactRevision'),
      }
      return { kind: 'header', header: this.#header }
    }
    if (raw.kind === 'data') {
      const flat = raw.pairs
      if (!Array.isArray(flat) || flat.length % 2 !== 0 || !flat.every(isBytes)) throw new InvalidSnapshotError('malformed data chunk')
      this.#hash.update(chunk)
      const pairs: Array<readonly [Uint8Array, Uint8Array]> = []
      for (let i = 0; i < flat.length; i += 2) pairs.push([plain(flat[i] as Uint8Array), plain(flat[i + 1] as Uint8Array)])
      this.#records += pairs.length
      return { kind: 'data', pairs }
    }
    if (raw.kind === 'end') {
      if (count(raw.records, 'records') !== this.#records) {
        throw new InvalidSnapshotError(`the snapshot ends after ${this.#records} records but announces ${String(raw.records)}`)
      }
      if (!isBytes(raw.sha256) || !bytesEqual(raw.sha256, this.#hash.digest())) throw new InvalidSnapshotError('snapshot checksum mismatch')
      this.#ended = true
      return { kind: 'end' }
    }
    throw new InvalidSnapshotError(`unknown snapshot chunk kind ${String(raw.kind)}`)
  }
}
