/**
 * Writers of msgpack's integer, byte-string and array headers into a buffer sized beforehand,
 * with the encodings msgpackr chooses: the hot paths that write msgpack without msgpackr (the
 * log's chunks, the KV store's records and envelopes) share them.
 *
 * @module
 */

const float = new Float64Array(1)
const floatBytes = new Uint8Array(float.buffer)
const littleEndian = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1

/** Bytes {@link writeUint} takes for a non-negative safe integer. */
export function uintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x100 ? 2 : v < 0x10000 ? 3 : v < 0x1_0000_0000 ? 5 : 9
}

/** A non-negative safe integer: fixint, uint 8/16/32, and past 32 bits a float64 (exact, as msgpackr writes it). */
export function writeUint(out: Uint8Array, at: number, v: number): number {
  if (v < 0x80) {
    out[at] = v
    return at + 1
  }
  if (v < 0x1_0000_0000) return writeSized(out, at, v, 0xcc, 0xcd, 0xce)
  out[at] = 0xcb
  float[0] = v
  for (let i = 0; i < 8; i++) out[at + 1 + i] = floatBytes[littleEndian ? 7 - i : i]
  return at + 9
}

/** Bytes of a bin header for `n` bytes. */
export function binHeaderSize(n: number): number {
  return n < 0x100 ? 2 : n < 0x10000 ? 3 : 5
}

export function writeBinHeader(out: Uint8Array, at: number, n: number): number {
  return writeSized(out, at, n, 0xc4, 0xc5, 0xc6)
}

/**
 * A 32-bit unsigned `n` after the first of three tags that fits it (8, 16 or 32 bits), the shape
 * msgpack gives uints and the headers of byte strings and strings.
 */
export function writeSized(out: Uint8Array, at: number, n: number, tag8: number, tag16: number, tag32: number): number {
  if (n < 0x100) {
    out[at] = tag8
    out[at + 1] = n
    return at + 2
  }
  if (n < 0x10000) {
    out[at] = tag16
    return writeBE16(out, at + 1, n)
  }
  out[at] = tag32
  return writeBE32(out, at + 1, n)
}

/** Bytes of an array header for `n` items. */
export function arrayHeaderSize(n: number): number {
  return n < 16 ? 1 : n < 0x10000 ? 3 : 5
}

export function writeArrayHeader(out: Uint8Array, at: number, n: number): number {
  if (n < 16) {
    out[at] = 0x90 | n
    return at + 1
  }
  if (n < 0x10000) {
    out[at] = 0xdc
    return writeBE16(out, at + 1, n)
  }
  out[at] = 0xdd
  return writeBE32(out, at + 1, n)
}

export function writeBE16(out: Uint8Array, at: number, v: number): number {
  out[at] = v >>> 8
  out[at + 1] = v & 0xff
  return at + 2
}

export function writeBE32(out: Uint8Array, at: number, v: number): number {
  out[at] = v >>> 24
  out[at + 1] = (v >>> 16) & 0xff
  out[at + 2] = (v >>> 8) & 0xff
  out[at + 3] = v & 0xff
  return at + 4
}
