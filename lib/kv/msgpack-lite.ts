/**
 * A short path for the msgpack the write path encodes most: records (arrays of byte strings and
 * integers) and command envelopes (plain objects of ASCII strings, integers, booleans, byte
 * strings). It writes exactly the bytes msgpackr writes for them with the store's settings
 * (`useRecords: false`, objects as 16-bit maps), without msgpackr's general machinery, into the
 * store's slabs. Anything else (floats, negative integers, non-ASCII or long strings, deep or
 * large structures) is left to msgpackr: {@link packSimple} returns `undefined`.
 *
 * @module
 */
import { arrayHeaderSize, binHeaderSize, uintSize, writeArrayHeader, writeBE16, writeBinHeader, writeSized, writeUint } from '../msgpack-write.js'
import { pooledBytes } from './bytes.js'

/** Nesting beyond this goes to msgpackr. */
const MAX_DEPTH = 8
/** Arrays and objects of more items go to msgpackr (their 32-bit headers are not written here). */
const MAX_ITEMS = 0xffff

/**
 * The msgpack encoding of `value`, as msgpackr writes it, or `undefined` if it is not one of the
 * simple shapes. The bytes come from `alloc` (default: the pool of short-lived bytes).
 */
export function packSimple(value: unknown, alloc: (n: number) => Uint8Array = pooledBytes): Uint8Array | undefined {
  const size = sizeOf(value, 0)
  if (size < 0) return undefined
  const out = alloc(size)
  const end = write(out, 0, value)
  return end === size ? out : undefined
}

/** Encoded size, or -1 when the value is not simple. */
function sizeOf(value: unknown, depth: number): number {
  switch (typeof value) {
    case 'number':
      if (!(value >= 0 && Number.isSafeInteger(value))) return -1
      return uintSize(value)
    case 'string': {
      const n = value.length
      if (n >= 0x10000) return -1
      for (let i = 0; i < n; i++) if (value.charCodeAt(i) > 0x7f) return -1
      return n + (n < 32 ? 1 : n < 0x100 ? 2 : 3)
    }
    case 'boolean':
      return 1
    case 'undefined':
      return 3
    case 'object': {
      if (value === null) return 1
      if (depth >= MAX_DEPTH) return -1
      if (value instanceof Uint8Array) return binHeaderSize(value.byteLength) + value.byteLength
      if (Array.isArray(value)) {
        if (value.length > MAX_ITEMS) return -1
        let size = arrayHeaderSize(value.length)
        for (const item of value) {
          const s = sizeOf(item, depth + 1)
          if (s < 0) return -1
          size += s
        }
        return size
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) return -1
      let size = 3
      let count = 0
      for (const key in value) {
        if (!Object.prototype.hasOwnProperty.call(value, key)) return -1
        const k = sizeOf(key, depth + 1)
        const v = sizeOf((value as Record<string, unknown>)[key], depth + 1)
        if (k < 0 || v < 0 || ++count > MAX_ITEMS) return -1
        size += k + v
      }
      return size
    }
    default:
      return -1
  }
}

/** Writes `value` (already sized by {@link sizeOf}) at `at`; returns where it ends. */
function write(out: Uint8Array, at: number, value: unknown): number {
  switch (typeof value) {
    case 'number':
      return writeUint(out, at, value)
    case 'string':
      return writeAscii(out, at, value)
    case 'boolean':
      out[at] = value ? 0xc3 : 0xc2
      return at + 1
    case 'undefined':
      // msgpackr's undefined: fixext 1 of type 0.
      out[at] = 0xd4
      out[at + 1] = 0
      out[at + 2] = 0
      return at + 3
    default: {
      if (value === null) {
        out[at] = 0xc0
        return at + 1
      }
      if (value instanceof Uint8Array) {
        at = writeBinHeader(out, at, value.byteLength)
        out.set(value, at)
        return at + value.byteLength
      }
      if (Array.isArray(value)) {
        at = writeArrayHeader(out, at, value.length)
        for (const item of value) at = write(out, at, item)
        return at
      }
      // msgpackr writes every object as a map16, its count patched in after the entries.
      const countAt = at + 1
      out[at] = 0xde
      at += 3
      let count = 0
      for (const key in value as Record<string, unknown>) {
        at = writeAscii(out, at, key)
        at = write(out, at, (value as Record<string, unknown>)[key])
        count++
      }
      writeBE16(out, countAt, count)
      return at
    }
  }
}

function writeAscii(out: Uint8Array, at: number, s: string): number {
  const n = s.length
  // fixstr, then str 8/16/32 (sizeOf leaves strings of 64 KiB and more to msgpackr).
  if (n < 32) out[at++] = 0xa0 | n
  else at = writeSized(out, at, n, 0xd9, 0xda, 0xdb)
  for (let i = 0; i < n; i++) out[at + i] = s.charCodeAt(i)
  return at + n
}
