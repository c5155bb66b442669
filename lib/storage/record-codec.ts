/**
 * The msgpack shapes of the records in the store. Records are positional arrays rather than maps:
 * smaller on disk and faster to decode, and the layout version in the state sublevel guards changes.
 * Every decoder checks the shape it gets, so a record that passed its checksum but is still not what
 * this version wrote (a bug, a downgrade) is reported instead of being half-used.
 *
 * @module
 */
import { Packr } from 'msgpackr'
import type { ConfState, Entry, EntryType, HardState, SnapshotMetadata } from '../raft/types.js'
import { arrayHeaderSize, binHeaderSize, uintSize, writeArrayHeader, writeBinHeader, writeUint } from '../msgpack-write.js'
import { frameInPlace, RECORD_HEADER_BYTES } from './record.js'

const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true })

/** Thrown by the decoders below for a payload of the wrong shape. */
export class MalformedRecordError extends Error {
  constructor(what: string) {
    super(`malformed ${what} record`)
    this.name = 'MalformedRecordError'
  }
}

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

function isIdList(v: unknown): v is number[] {
  return Array.isArray(v) && v.every(isIndex)
}

function unpack(payload: Uint8Array, what: string): unknown {
  try {
    return packr.unpack(payload)
  } catch {
    throw new MalformedRecordError(what)
  }
}

export function encodeHardState(hs: HardState): Uint8Array {
  return packr.pack([hs.term, hs.vote, hs.commit])
}

export function decodeHardState(payload: Uint8Array): HardState {
  const v = unpack(payload, 'hard state')
  if (!Array.isArray(v) || v.length !== 3 || !v.every(isIndex)) throw new MalformedRecordError('hard state')
  return { term: v[0], vote: v[1], commit: v[2] }
}

function confStateTuple(cs: ConfState): unknown[] {
  return [[...cs.voters], [...cs.learners], [...cs.votersOutgoing], [...cs.learnersNext], cs.autoLeave]
}

function confStateFromTuple(v: unknown): ConfState {
  if (
    !Array.isArray(v) ||
    v.length !== 5 ||
    !isIdList(v[0]) ||
    !isIdList(v[1]) ||
    !isIdList(v[2]) ||
    !isIdList(v[3]) ||
    typeof v[4] !== 'boolean'
  ) {
    throw new MalformedRecordError('conf state')
  }
  return { voters: v[0], learners: v[1], votersOutgoing: v[2], learnersNext: v[3], autoLeave: v[4] }
}

export function encodeConfState(cs: ConfState): Uint8Array {
  return packr.pack(confStateTuple(cs))
}

export function decodeConfState(payload: Uint8Array): ConfState {
  return confStateFromTuple(unpack(payload, 'conf state'))
}

/** The entry just before the first one kept: the snapshot or compaction point (index, term). */
export interface LogStart {
  readonly index: number
  readonly term: number
}

export function encodeLogStart(start: LogStart): Uint8Array {
  return packr.pack([start.index, start.term])
}

export function decodeLogStart(payload: Uint8Array): LogStart {
  const v = unpack(payload, 'log start')
  if (!Array.isArray(v) || v.length !== 2 || !v.every(isIndex)) throw new MalformedRecordError('log start')
  return { index: v[0], term: v[1] }
}

/** Snapshot metadata plus what is needed to check the data, stored in pieces beside it. */
export interface StoredSnapshotMetadata extends SnapshotMetadata {
  readonly dataLength: number
  readonly dataPieces: number
}

export function encodeSnapshotMetadata(meta: StoredSnapshotMetadata): Uint8Array {
  return packr.pack([meta.index, meta.term, confStateTuple(meta.confState), meta.dataLength, meta.dataPieces])
}

export function decodeSnapshotMetadata(payload: Uint8Array): StoredSnapshotMetadata {
  const v = unpack(payload, 'snapshot metadata')
  if (!Array.isArray(v) || v.length !== 5 || !isIndex(v[0]) || !isIndex(v[1]) || !isIndex(v[3]) || !isIndex(v[4])) {
    throw new MalformedRecordError('snapshot metadata')
  }
  return { index: v[0], term: v[1], confState: confStateFromTuple(v[2]), dataLength: v[3], dataPieces: v[4] }
}

/**
 * A run of consecutive entries stored as one record (one chunk per append, split when large):
 * the msgpack array `[firstIndex, term, type, data, term, type, data, ...]`, framed like every record
 * (see record.ts). Storing an append's entries together is what lets a sync batch of 256 entries
 * cost one key instead of 256.
 *
 * NB: this is the hot path of every write, so the msgpack is written here directly into the framed
 * buffer (one allocation, no copy of the entry data beyond this one) rather than by msgpackr, which
 * would cost a second buffer and a copy. It is plain msgpack: msgpackr decodes it (decodeChunk), and
 * a test checks it against msgpackr's own encoding.
 */
export function sealChunk(key: Uint8Array, entries: readonly Entry[], from: number, to: number): Buffer {
  const count = 1 + (to - from) * 3
  let size = arrayHeaderSize(count) + uintSize(entries[from].index)
  for (let i = from; i < to; i++) {
    const e = entries[i]
    size += uintSize(e.term) + 1 + binHeaderSize(e.data.length) + e.data.length
  }
  const out = Buffer.allocUnsafe(RECORD_HEADER_BYTES + size)
  let at = writeArrayHeader(out, RECORD_HEADER_BYTES, count)
  at = writeUint(out, at, entries[from].index)
  for (let i = from; i < to; i++) {
    const e = entries[i]
    at = writeUint(out, at, e.term)
    out[at++] = e.type // a positive fixint: types are 0 and 1
    at = writeBinHeader(out, at, e.data.length)
    out.set(e.data, at)
    at += e.data.length
  }
  return frameInPlace(key, out)
}

/** Decodes a chunk; `data` of each entry is a view into `payload`. */
export function decodeChunk(payload: Uint8Array): Entry[] {
  const v = unpack(payload, 'log chunk')
  if (!Array.isArray(v) || v.length < 4 || (v.length - 1) % 3 !== 0 || !isIndex(v[0])) {
    throw new MalformedRecordError('log chunk')
  }
  const first = v[0]
  const entries: Entry[] = new Array((v.length - 1) / 3)
  for (let i = 0, j = 1; j < v.length; i++, j += 3) {
    const term = v[j]
    const type = v[j + 1]
    const data = v[j + 2]
    if (!isIndex(term) || (type !== 0 && type !== 1) || !(data instanceof Uint8Array)) {
      throw new MalformedRecordError('log chunk')
    }
    entries[i] = { index: first + i, term, type: type as EntryType, data }
  }
  return entries
}
