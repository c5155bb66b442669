/**
 * Reading the whole log back at open: every chunk's checksum is verified, the chunks must follow
 * each other without gaps and with non-decreasing terms, and the result rebuilds the in-memory
 * indexes (chunk bounds, term runs) and the hot tail.
 *
 * What a damaged chunk means depends on where it is (DESIGN rule 7):
 * - past the persisted commit index, the entries were never known committed: the log is cut back
 *   to the last good entry (the damaged record and everything after it are deleted, with sync);
 * - at or below the commit index, a committed entry would be lost: open fails with CORRUPT_LOG;
 * - wholly at or below the log start (already compacted, left over from a crash before the range
 *   delete), it is garbage and deleted.
 *
 * NB: "past the commit index" is what the node persisted; a follower may have acknowledged such an
 * entry to a leader that has since committed it. Cutting it is the same as etcd's repair of a torn
 * WAL tail and is safe for the same reason: a torn record was never fully written, so never
 * acknowledged. Damage of a record that was once complete is reported instead whenever it reaches
 * committed entries.
 *
 * @module
 */
import { CorruptLogError } from '../errors.js'
import type { Entry, HardState } from '../raft/types.js'
import { entrySize } from '../raft/types.js'
import { ChunkMap } from './chunk-map.js'
import { describeEngineError } from './engine-errors.js'
import { indexKey, keyToHex, parseIndexKey } from './index-key.js'
import { syncOptions, type StoreLayout } from './level-database.js'
import { decodeChunk, MalformedRecordError, type LogStart } from './record-codec.js'
import { openRecord } from './record.js'
import { TermRuns } from './term-runs.js'

/** What {@link recoverLog} found and did. */
export interface LogRecovery {
  readonly chunks: ChunkMap
  readonly terms: TermRuns
  /** The last entries of the log, oldest first, within the cache budget. */
  readonly tail: Entry[]
  /** Set when a damaged tail was cut: the first index removed, and why. */
  readonly truncatedFrom?: { readonly index: number; readonly reason: string }
  /** Records deleted because they were damaged, past the damage, or below the log start. */
  readonly deletedRecords: number
}

export interface RecoverLogOptions {
  readonly layout: StoreLayout
  readonly location: string
  readonly logStart: LogStart
  readonly hardState: HardState
  readonly cacheEntries: number
  readonly cacheBytes: number
  readonly sync: boolean
}

/** Reads, checks and, where safe, repairs the log. */
export async function recoverLog(options: RecoverLogOptions): Promise<LogRecovery> {
  const { layout, location, logStart, hardState } = options
  const where = `${location} (log)`
  const base = logStart.index
  const chunks = new ChunkMap()
  const terms = new TermRuns(base, logStart.term)
  const tail: Entry[][] = []
  let tailEntries = 0
  let tailBytes = 0

  let expected = base + 1
  let lastTerm = logStart.term
  // The first problem found: every record from the damaged one on is removed (or reported).
  let problem: { index: number; reason: string; cause?: unknown } | undefined
  const badKeys: Uint8Array[] = []
  // A damaged record keyed at or below the log start, seen before any good chunk: it is garbage if
  // the next record still starts at or below base + 1, otherwise it held entries we need.
  let pendingGarbage: { key: Uint8Array; reason: string } | undefined
  let garbageBelow: Uint8Array | undefined
  let garbageRecords = 0
  let scanFailed = false

  const markGarbage = (key: Uint8Array): void => {
    garbageRecords++
    garbageBelow = key
  }

  const iterator = layout.log.iterator()
  try {
    for (;;) {
      let batch: Array<[Uint8Array, Uint8Array]>
      try {
        batch = await iterator.nextv(256)
      } catch (err) {
        // The engine itself could not read on (a damaged table or block): nothing past here is known.
        problem ??= { index: expected, reason: `the storage engine failed to read the log: ${describeEngineError(err)}`, cause: err }
        scanFailed = true
        break
      }
      if (batch.length === 0) break
      for (const [key, value] of batch) {
        if (problem !== undefined) {
          badKeys.push(key)
          continue
        }
        const first = parseIndexKey(key)
        const checked = checkChunk(key, value, first)
        if (typeof checked === 'string') {
          if (first >= 0 && first <= base && chunks.size === 0) {
            if (pendingGarbage !== undefined) markGarbage(pendingGarbage.key)
            pendingGarbage = { key, reason: checked }
            continue
          }
          problem = { index: expected, reason: checked }
          badKeys.push(key)
          continue
        }
        const entries = checked
        const last = first + entries.length - 1
        if (pendingGarbage !== undefined) {
          if (first > base + 1) {
            problem = { index: expected, reason: pendingGarbage.reason }
            badKeys.push(pendingGarbage.key, key)
            pendingGarbage = undefined
            continue
          }
          markGarbage(pendingGarbage.key)
          pendingGarbage = undefined
        }
        if (last <= base) {
          // Compacted away, left by a crash between writing the log start and the range delete.
          markGarbage(key)
          continue
        }
        if (chunks.size === 0 ? first > expected : first !== expected) {
          problem = { index: expected, reason: `log entries ${expected}..${first - 1} are missing` }
          badKeys.push(key)
          continue
        }
        const kept = first < expected ? entries.slice(expected - first) : entries
        // Raft logs never go back in term; a chunk that does is not what was written.
        let termProblem: number | undefined
        let term = lastTerm
        for (const e of kept) {
          if (e.term < term) {
            termProblem = e.index
            break
          }
          term = e.term
        }
        if (termProblem !== undefined) {
          problem = { index: expected, reason: `log entry ${termProblem} goes back in term` }
          badKeys.push(key)
          continue
        }
        lastTerm = term
        chunks.push({ first, last })
        for (const e of kept) terms.push(e.index, e.term)
        expected = last + 1
        tail.push(kept)
        for (const e of kept) {
          tailEntries++
          tailBytes += entrySize(e)
        }
        while (tail.length > 1 && (tailEntries - tail[0].length >= options.cacheEntries || tailBytes > options.cacheBytes)) {
          const dropped = tail.shift()!
          tailEntries -= dropped.length
          for (const e of dropped) tailBytes -= entrySize(e)
        }
      }
    }
  } finally {
    await iterator.close().catch(() => {})
  }
  if (pendingGarbage !== undefined && problem === undefined) {
    // The last record is damaged and keyed at or below the log start: it may hold base + 1 onwards.
    problem = { index: expected, reason: pendingGarbage.reason }
    badKeys.push(pendingGarbage.key)
  }

  const lastIndex = expected - 1
  if (problem !== undefined && problem.index <= hardState.commit) {
    throw corrupt(where, problem.index, `${problem.reason}; the entry is at or below the commit index ${hardState.commit}`, problem.cause)
  }
  if (problem === undefined && lastIndex < hardState.commit) {
    throw corrupt(where, lastIndex + 1, `the log ends at ${lastIndex}, below the commit index ${hardState.commit}`)
  }

  let deletedRecords = 0
  if (problem !== undefined) {
    try {
      if (scanFailed) {
        // Unknown records lie past the damage: delete the whole range rather than known keys.
        await layout.log.clear({ gte: indexKey(problem.index) })
      }
      if (badKeys.length > 0) {
        await layout.log.batch(
          badKeys.map((key) => ({ type: 'del' as const, key })),
          syncOptions(options.sync),
        )
      }
    } catch (err) {
      throw corrupt(where, problem.index, `${problem.reason}; cutting the damaged tail failed: ${describeEngineError(err)}`, err)
    }
    deletedRecords += badKeys.length
  }
  if (garbageBelow !== undefined) {
    await layout.log.clear({ lte: garbageBelow })
    deletedRecords += garbageRecords
  }

  const flat: Entry[] = []
  for (const c of tail) for (const e of c) if (e.index <= lastIndex) flat.push(e)
  const result: LogRecovery = {
    chunks,
    terms,
    tail: flat,
    deletedRecords,
    ...(problem !== undefined ? { truncatedFrom: { index: problem.index, reason: problem.reason } } : {}),
  }
  return result
}

/** The entries of a stored chunk, or why it cannot be used. */
function checkChunk(key: Uint8Array, value: Uint8Array, first: number): Entry[] | string {
  if (first < 0) return `a log key of the wrong shape (${keyToHex(key)})`
  const payload = openRecord(key, value)
  if (typeof payload === 'string') return `log chunk ${first} failed its checksum (${payload})`
  let entries: Entry[]
  try {
    entries = decodeChunk(payload)
  } catch (err) {
    if (!(err instanceof MalformedRecordError)) throw err
    return `log chunk ${first} is malformed`
  }
  if (entries[0].index !== first) return `log chunk under key ${first} starts at ${entries[0].index}`
  return entries
}

function corrupt(where: string, index: number, message: string, cause?: unknown): CorruptLogError {
  const err = new CorruptLogError(where, index, message)
  if (cause !== undefined) err.cause = cause
  return err
}
