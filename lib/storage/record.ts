/**
 * Framing of every record metastore stores: `[crc32: 4 bytes big-endian][payload]`. The checksum
 * covers the record's key as well as its payload, so that a value that turns up under the wrong key
 * (a damaged key in an SST file, a stale copy) fails the check instead of being served.
 *
 * @module
 */
import { crc32 } from 'node:zlib'

/** Bytes before the payload of a record: the checksum. */
export const RECORD_HEADER_BYTES = 4
const CRC_BYTES = RECORD_HEADER_BYTES

/** Why {@link openRecord} refused a value. */
export type RecordDamage = 'short' | 'checksum'

/** Frames `payload` for storage under `key`. The result is a fresh buffer the caller may keep. */
export function sealRecord(key: Uint8Array, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(CRC_BYTES + payload.length)
  out.writeUInt32BE(crc32(payload, crc32(key)), 0)
  out.set(payload, CRC_BYTES)
  return out
}

/** Frames a buffer whose payload was written after {@link RECORD_HEADER_BYTES} reserved bytes. */
export function frameInPlace(key: Uint8Array, out: Buffer): Buffer {
  out.writeUInt32BE(crc32(out.subarray(CRC_BYTES), crc32(key)), 0)
  return out
}

/**
 * Checks a stored value against its key and returns the payload (a view into `value`), or the kind
 * of damage found.
 */
export function openRecord(key: Uint8Array, value: Uint8Array): Uint8Array | RecordDamage {
  if (value.length < CRC_BYTES) return 'short'
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength)
  const stored = view.getUint32(0)
  const payload = value.subarray(CRC_BYTES)
  return crc32(payload, crc32(key)) === stored ? payload : 'checksum'
}
