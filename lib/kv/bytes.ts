/**
 * Byte-string helpers. Keys and values are `Uint8Array`s compared as unsigned bytes, the order
 * LevelDB, RocksDB and memory-level sort keys in.
 *
 * @module
 */
import { Buffer } from 'node:buffer'

/** An empty byte string (the value of a deletion, "no value"). */
export const EMPTY = new Uint8Array(0)

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** Compares as unsigned bytes: negative, zero or positive, like `Buffer.compare` (which takes any `Uint8Array`). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b)
}

/**
 * Node's latin1 decoder, which reads any `Uint8Array` in place; a `Buffer` view made for each call
 * costs more than the decoding of a short key. Not part of Node's documented API: without it,
 * {@link toLatin1} makes the view.
 */
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice?: (this: Uint8Array, start: number, end: number) => string }).latin1Slice

/** Whether two byte strings hold the same bytes. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && compareBytes(a, b) === 0
}

/**
 * A string with one code unit per byte. JavaScript compares strings by code unit, so these
 * strings sort exactly as the bytes do: they key the in-memory maps that must keep that order.
 */
export function toLatin1(bytes: Uint8Array): string {
  return latin1Slice !== undefined ? latin1Slice.call(bytes, 0, bytes.byteLength) : asBuffer(bytes).toString('latin1')
}

/** The inverse of {@link toLatin1}. */
export function fromLatin1(text: string): Uint8Array {
  return plain(Buffer.from(text, 'latin1'))
}

/**
 * The same bytes as a plain `Uint8Array` view (no copy). Decoders hand out `Buffer`s; the store
 * returns plain views so that what callers get does not depend on the database backend.
 */
export function plain(bytes: Uint8Array): Uint8Array {
  return bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/**
 * Small byte arrays carved out of shared slabs. A typed array of its own above 64 bytes is an
 * allocation outside V8's heap, about 1 µs on a small machine and more work for the collector;
 * a carved one is one view object. Each keeps its whole slab alive, so a pool should hold bytes
 * that die together: short-lived ones in one, long-lived ones (a log entry's data) in another.
 * (Node's `Buffer.allocUnsafe` pools the same way, but hands out a `Buffer`, and a plain view of
 * it is a second object.)
 */
export class SlabPool {
  readonly #slabBytes: number
  readonly #maxPooled: number
  #slab = new ArrayBuffer(0)
  #used = 0

  /** Slabs of `slabBytes`; arrays above `maxPooled` bytes get memory of their own. */
  constructor(slabBytes = 16 * 1024, maxPooled = 2048) {
    this.#slabBytes = slabBytes
    this.#maxPooled = maxPooled
  }

  /** `n` bytes, not zeroed. */
  alloc(n: number): Uint8Array {
    if (n > this.#maxPooled) return new Uint8Array(n)
    if (this.#used + n > this.#slab.byteLength) {
      this.#slab = new ArrayBuffer(this.#slabBytes)
      this.#used = 0
    }
    const out = new Uint8Array(this.#slab, this.#used, n)
    // Aligned to 8 bytes, as Node's pool does.
    this.#used = (this.#used + n + 7) & ~7
    return out
  }
}

/** The pool of short-lived copies and encodings. */
const shortLived = new SlabPool()

/** A plain `Uint8Array` copy of `bytes`, from the pool of short-lived bytes (see {@link SlabPool}). */
export function pooledCopy(bytes: Uint8Array): Uint8Array {
  const out = shortLived.alloc(bytes.byteLength)
  out.set(bytes)
  return out
}

/** `n` bytes (not zeroed) from the pool of short-lived bytes, for encodings that do not stay. */
export function pooledBytes(n: number): Uint8Array {
  return shortLived.alloc(n)
}

/** The UTF-8 bytes of `text`, out of Node's buffer pool (`TextEncoder.encode` allocates outside the heap every time). */
export function utf8Bytes(text: string): Uint8Array {
  return plain(Buffer.from(text, 'utf8'))
}

/** The concatenation of `parts`. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0
  for (const part of parts) length += part.byteLength
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.byteLength
  }
  return out
}

const TWO_32 = 2 ** 32

/** Writes a non-negative safe integer as 8 big-endian bytes at `offset`. */
export function writeUint64(target: Uint8Array, offset: number, value: number): void {
  writeUint32(target, offset, Math.floor(value / TWO_32))
  writeUint32(target, offset + 4, value >>> 0)
}

/** Reads 8 big-endian bytes at `offset` as a number (exact up to 2^53). */
export function readUint64(source: Uint8Array, offset: number): number {
  return readUint32(source, offset) * TWO_32 + readUint32(source, offset + 4)
}

/** Writes a 32-bit unsigned integer, big-endian, at `offset`. */
export function writeUint32(target: Uint8Array, offset: number, value: number): void {
  target[offset] = value >>> 24
  target[offset + 1] = (value >>> 16) & 0xff
  target[offset + 2] = (value >>> 8) & 0xff
  target[offset + 3] = value & 0xff
}

/** Reads a 32-bit unsigned big-endian integer at `offset`. */
export function readUint32(source: Uint8Array, offset: number): number {
  return ((source[offset] << 24) | (source[offset + 1] << 16) | (source[offset + 2] << 8) | source[offset + 3]) >>> 0
}

/** 8 big-endian bytes of a non-negative safe integer. */
export function uint64Bytes(value: number): Uint8Array {
  const out = new Uint8Array(8)
  writeUint64(out, 0, value)
  return out
}

/** Whether `value` is a `Uint8Array` (a `Buffer` is one too). */
export function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array
}

/** Readable form of a key for messages: UTF-8 when printable, else hex. */
export function describeKey(key: Uint8Array): string {
  const text = asBuffer(key).toString('utf8')
  // eslint-disable-next-line no-control-regex
  return /^[\x20-\x7e]*$/.test(text) ? JSON.stringify(text) : `0x${asBuffer(key).toString('hex')}`
}
