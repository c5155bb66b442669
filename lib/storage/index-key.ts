/**
 * Log keys: a log index as 8 big-endian bytes, so that the byte order of keys is the numeric order
 * of indexes and range scans and range deletes work on plain key bounds.
 *
 * @module
 */

/** The number of bytes of an encoded index key. */
export const INDEX_KEY_BYTES = 8

/**
 * Encodes a log index (a non-negative safe integer) as a fixed-width big-endian key.
 *
 * @example
 * ```ts
 * indexKey(258) // Uint8Array [0, 0, 0, 0, 0, 0, 1, 2]
 * ```
 */
export function indexKey(index: number): Uint8Array {
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new TypeError(`a log index must be a non-negative safe integer, got ${index}`)
  }
  const key = new Uint8Array(INDEX_KEY_BYTES)
  // Two 32-bit halves: DataView has no setter for a 53-bit integer short of BigInt, which is slower.
  const view = new DataView(key.buffer)
  view.setUint32(0, Math.floor(index / 0x1_0000_0000))
  view.setUint32(4, index >>> 0)
  return key
}

/** Decodes a key made by {@link indexKey}; returns -1 for a key of the wrong shape. */
export function parseIndexKey(key: Uint8Array): number {
  if (key.length !== INDEX_KEY_BYTES) return -1
  const view = new DataView(key.buffer, key.byteOffset, key.byteLength)
  const index = view.getUint32(0) * 0x1_0000_0000 + view.getUint32(4)
  return Number.isSafeInteger(index) ? index : -1
}

/** Hex form of a key, for error messages that must name the damaged record. */
export function keyToHex(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex')
}
