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
export const SNAPSHOT_VERSION = 2

/** Default upper bound of a data chunk's records, in bytes (a single larger record gets a chunk of its own). */
export const DEFAULT_CHUNK_BYTES = 1 << 20

/** What a snapshot holds, from its header chunk. */
export interface SnapshotHeader {
  readonly appliedIndex: number
  readonly revision: number
  readonly compactRevision: number
}

/** Encodes `records`, which come in batches, as a snapshot stream. */
export async function* encodeSnapshot(
  header: SnapshotHeader,
  records: AsyncIterable<ReadonlyArray<readonly [Uint8Array, Uint8Array]>>,
  chunkBytes: number = DEFAULT_CHUNK_BYTES,
): AsyncGenerator<Uint8Array> {
  yield pack({ kind: 'header', format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, ...header })
  const hash = createHash('sha256')
  // A data chunk's records are one byte string: per record, the key's length (4 bytes, big
  // endian), the key, the value's length, the value. Packing that is one copy per record.
  let block = Buffer.allocUnsafe(chunkBytes + 64)
  let size = 0
  let inBlock = 0
  let count = 0
  const flush = (): Uint8Array => {
    const chunk = pack({ kind: 'data', count: inBlock, records: block.subarray(0, size) })
    hash.update(chunk)
    size = 0
    inBlock = 0
    return chunk
  }
  for await (const batch of records) {
    for (const [key, value] of batch) {
      const need = 8 + key.byteLength + value.byteLength
      if (size > 0 && size + need > chunkBytes) yield flush()
      if (need > block.byteLength) block = Buffer.allocUnsafe(need)
      block.writeUInt32BE(key.byteLength, size)
      block.set(key, size + 4)
      size += 4 + key.byteLength
      block.writeUInt32BE(value.byteLength, size)
      block.set(value, size + 4)
      size += 4 + value.byteLength
      inBlock++
      count++
    }
  }
  if (inBlock > 0) yield flush()
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

/** The `n` records of a data chunk's byte string (views into it). */
function splitRecords(block: Uint8Array, n: number): Array<readonly [Uint8Array, Uint8Array]> {
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength)
  const out: Array<readonly [Uint8Array, Uint8Array]> = new Array(n)
  let at = 0
  const take = (): Uint8Array => {
    if (at + 4 > block.byteLength) throw new InvalidSnapshotError('malformed data chunk: a length runs past its end')
    const length = view.getUint32(at)
    at += 4
    if (at + length > block.byteLength) throw new InvalidSnapshotError('malformed data chunk: a record runs past its end')
    const bytes = block.subarray(at, at + length)
    at += length
    return bytes
  }
  for (let i = 0; i < n; i++) {
    const key = take()
    out[i] = [key, take()]
  }
  if (at !== block.byteLength) throw new InvalidSnapshotError('malformed data chunk: bytes after its records')
  return out
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
      const block = raw.records
      const n = raw.count
      if (!isBytes(block) || typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new InvalidSnapshotError('malformed data chunk')
      this.#hash.update(chunk)
      const pairs = splitRecords(plain(block), n)
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
