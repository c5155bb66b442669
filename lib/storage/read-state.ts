/**
 * Reading and checking the small records of the state sublevel, and the snapshot they point at.
 * Damage to any of them is never repaired: each holds something the node promised (a vote, a commit
 * index, the membership), so opening fails with `CORRUPT_LOG` naming the record.
 *
 * @module
 */
import { CorruptLogError } from '../errors.js'
import { emptyConfState, EMPTY_DATA, type ConfState, type HardState, type Snapshot } from '../raft/types.js'
import { indexKey } from './index-key.js'
import { StateKey, type StoreLayout } from './level-database.js'
import {
  decodeConfState,
  decodeHardState,
  decodeLogStart,
  decodeSnapshotMetadata,
  MalformedRecordError,
  type LogStart,
  type StoredSnapshotMetadata,
} from './record-codec.js'
import { openRecord } from './record.js'
import { describeEngineError } from './engine-errors.js'

const utf8 = new TextEncoder()

/** The key of a snapshot data piece: (snapshot index, piece number), both big-endian. */
export function snapshotPieceKey(snapshotIndex: number, piece: number): Uint8Array {
  const key = new Uint8Array(12)
  key.set(indexKey(snapshotIndex), 0)
  new DataView(key.buffer).setUint32(8, piece)
  return key
}

/** The CRC key of a state record: the bytes of its name. */
export function stateRecordKey(name: string): Uint8Array {
  return utf8.encode(name)
}

/** Everything but the log, as found at open. */
export interface StoredState {
  readonly layoutVersion: number | undefined
  readonly hardState: HardState
  readonly confState: ConfState | undefined
  readonly logStart: LogStart
  readonly snapshot: Snapshot
}

/** Reads one state record; `undefined` when absent. */
async function readStateRecord<T>(
  layout: StoreLayout,
  location: string,
  name: string,
  decode: (payload: Uint8Array) => T,
): Promise<T | undefined> {
  let value: Uint8Array | undefined
  try {
    value = await layout.state.get(name)
  } catch (err) {
    throw new CorruptLogError(`${location} (record ${name})`, 0, `reading the ${name} record failed: ${describeEngineError(err)}`)
  }
  if (value === undefined) return undefined
  const payload = openRecord(stateRecordKey(name), value)
  if (typeof payload === 'string') {
    throw new CorruptLogError(`${location} (record ${name})`, 0, `the ${name} record failed its checksum (${payload})`)
  }
  try {
    return decode(payload)
  } catch (err) {
    if (err instanceof MalformedRecordError) {
      throw new CorruptLogError(`${location} (record ${name})`, 0, `the ${name} record is malformed`)
    }
    throw err
  }
}

function decodeLayoutVersion(payload: Uint8Array): number {
  if (payload.length !== 1) throw new MalformedRecordError('format')
  return payload[0]
}

/** Reads and checks the pieces of the snapshot `meta` describes. */
async function readSnapshotData(layout: StoreLayout, location: string, meta: StoredSnapshotMetadata): Promise<Uint8Array> {
  if (meta.dataPieces === 0) {
    if (meta.dataLength !== 0) throw new CorruptLogError(`${location} (snapshot data)`, meta.index, 'snapshot data is missing')
    return EMPTY_DATA
  }
  const pieces: Uint8Array[] = []
  let length = 0
  const where = `${location} (snapshot data)`
  try {
    for await (const [key, value] of layout.snapshotData.iterator({
      gte: snapshotPieceKey(meta.index, 0),
      lt: snapshotPieceKey(meta.index, meta.dataPieces),
    })) {
      const expected = snapshotPieceKey(meta.index, pieces.length)
      if (Buffer.compare(key, expected) !== 0) {
        throw new CorruptLogError(where, meta.index, `snapshot data piece ${pieces.length} is missing`)
      }
      const payload = openRecord(key, value)
      if (typeof payload === 'string') {
        throw new CorruptLogError(where, meta.index, `snapshot data piece ${pieces.length} failed its checksum (${payload})`)
      }
      pieces.push(payload)
      length += payload.length
    }
  } catch (err) {
    if (err instanceof CorruptLogError) throw err
    throw new CorruptLogError(where, meta.index, `reading snapshot data failed: ${describeEngineError(err)}`)
  }
  if (pieces.length !== meta.dataPieces || length !== meta.dataLength) {
    throw new CorruptLogError(where, meta.index, `snapshot data has ${pieces.length} pieces and ${length} bytes, expected ${meta.dataPieces} and ${meta.dataLength}`)
  }
  return pieces.length === 1 ? pieces[0] : Buffer.concat(pieces)
}

/** Reads the hard state, membership, log start and snapshot, checking each. */
export async function readStoredState(layout: StoreLayout, location: string): Promise<StoredState> {
  const layoutVersion = await readStateRecord(layout, location, StateKey.format, decodeLayoutVersion)
  const hardState = (await readStateRecord(layout, location, StateKey.hardState, decodeHardState)) ?? { term: 0, vote: 0, commit: 0 }
  const confState = await readStateRecord(layout, location, StateKey.confState, decodeConfState)
  const logStart = (await readStateRecord(layout, location, StateKey.logStart, decodeLogStart)) ?? { index: 0, term: 0 }
  const meta = await readStateRecord(layout, location, StateKey.snapshot, decodeSnapshotMetadata)
  let snapshot: Snapshot
  if (meta === undefined) {
    snapshot = { metadata: { index: 0, term: 0, confState: confState ?? emptyConfState() }, data: EMPTY_DATA }
  } else {
    const data = await readSnapshotData(layout, location, meta)
    snapshot = { metadata: { index: meta.index, term: meta.term, confState: meta.confState }, data }
  }
  return { layoutVersion, hardState, confState, logStart, snapshot }
}
