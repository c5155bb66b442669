/**
 * Prepares the effects of a batch of committed entries: unwraps each envelope, answers retries
 * from the dedup table, applies the rest in order through one {@link Overlay}, and turns all of
 * it, with the new applied index, into the operations of one atomic batch.
 *
 * @module
 */
import { utf8Bytes } from './bytes.js'
import { decodeEnvelope } from './codec.js'
import type { Envelope } from './commands.js'
import { InvalidCommandError, StaleSequenceError, toCommandError } from './errors.js'
import { applyCommand } from './apply-command.js'
import { STATE_KEY } from './layout.js'
import type { Generation } from './layout.js'
import { Overlay } from './overlay.js'
import type { ReadSource } from './read-source.js'
import { decodeDedup, encodeDedup, encodeMeta } from './records.js'
import type { DedupRecord, MetaState } from './records.js'
import type { ApplyResult, CommandResult, RevisionEvents } from './results.js'
import type { BatchState } from './write-txn.js'
import type { ExtraOperation } from '../storage/level-database.js'
import type { CachedSublevel } from './record-cache.js'

/** One committed log entry, as the driver hands it over. */
export interface CommittedEntry {
  readonly index: number
  /**
   * An encoded {@link Envelope}, or empty for an entry that carries no command (a new leader's
   * empty entry; the driver also passes membership changes this way, so the applied index covers them).
   */
  readonly data: Uint8Array
}

/** The effects of a batch, ready to be written. */
export interface PreparedBatch {
  /** The writes, as `batch()` operations of the ROOT database (keys fully prefixed; the applied index included). */
  readonly ops: ExtraOperation[]
  /** One result per entry applied (entries at or below the applied index are skipped). */
  readonly results: ApplyResult[]
  /** The events, one group per revision, in revision order. */
  readonly events: RevisionEvents[]
  /** The applied index once the batch is written. */
  readonly appliedIndex: number
  /** The store's counters once the batch is written. */
  readonly meta: MetaState
  /** The generation the operations write to. */
  readonly generation: Generation
  /** The `key` and `dedup` records the operations write (`undefined`: deleted), for the store's record cache. */
  readonly records: ReadonlyArray<readonly [CachedSublevel, Uint8Array, Uint8Array | undefined]>
}

/**
 * How many sequences behind a client's newest one a request may still arrive and be applied.
 * A client's requests overtake each other (a retry after a leader change, a forward that took
 * longer), so the table remembers which recent sequences were applied, not only the newest.
 */
export const DEDUP_WINDOW = 4096

/** The dedup record after applying `seq` (with `result`) on top of `last`. */
function recordApplied(last: DedupRecord | undefined, seq: number, result: CommandResult): DedupRecord {
  const prev: DedupRecord = last ?? { seq: 0, result, floor: 0, above: [] }
  const above = [...prev.above]
  let i = above.length
  while (i > 0 && above[i - 1] > seq) i--
  above.splice(i, 0, seq)
  let floor = prev.floor
  // Contiguous applied sequences fold into the floor; a hole older than the window is given up.
  while (above.length > 0 && (above[0] === floor + 1 || above[0] <= floor)) floor = Math.max(floor, above.shift()!)
  const high = Math.max(prev.seq, seq)
  if (high - floor > DEDUP_WINDOW) {
    floor = high - DEDUP_WINDOW
    while (above.length > 0 && above[0] <= floor) above.shift()
  }
  return seq >= prev.seq ? { seq, result, floor, above } : { seq: prev.seq, result: prev.result, floor, above }
}

async function applyEnvelope(batch: BatchState, envelope: Envelope): Promise<{ result: CommandResult; duplicate: boolean }> {
  const { clientId, seq, cmd } = envelope
  const dedupKey = utf8Bytes(clientId)
  let last: DedupRecord | undefined
  if (clientId !== '') {
    const bytes = await batch.overlay.get('dedup', dedupKey)
    if (bytes !== undefined) {
      last = decodeDedup(bytes)
      if (seq === last.seq) return { result: last.result, duplicate: true }
      if (seq <= last.floor || last.above.includes(seq)) {
        // Applied already (its result is no longer kept), or too old to tell: never apply twice.
        const stale = new StaleSequenceError(
          seq,
          last.seq,
          seq <= last.floor
            ? `sequence ${seq} is settled for this client (applied, or more than ${DEDUP_WINDOW} requests old); its outcome is not kept`
            : `sequence ${seq} was applied already; its result is no longer kept`,
        )
        return { result: { type: 'error', revision: batch.meta.revision, error: toCommandError(stale) }, duplicate: true }
      }
    }
  }
  let result: CommandResult
  try {
    result = await applyCommand(batch, cmd)
  } catch (error) {
    result = { type: 'error', revision: batch.meta.revision, error: toCommandError(error) }
  }
  if (clientId !== '') batch.overlay.put('dedup', dedupKey, encodeDedup(recordApplied(last, seq, result)))
  return { result, duplicate: false }
}

/** The envelope of an entry, `undefined` for an empty entry, or why it does not decode. */
function decodeEntry(entry: CommittedEntry): Envelope | string | undefined {
  if (entry.data.length === 0) return undefined
  try {
    return decodeEnvelope(entry.data)
  } catch (error) {
    return (error as Error).message
  }
}

/**
 * Reads the current records of the keys the batch puts, and its clients' dedup records, in
 * one round trip each, instead of one read per command. Only a cache: a read it missed (keys
 * found by a range, a txn's branch) still goes to the database.
 */
async function prefetch(overlay: Overlay, envelopes: ReadonlyArray<Envelope | string | undefined>): Promise<void> {
  const keys: Uint8Array[] = []
  const clients: Uint8Array[] = []
  for (const envelope of envelopes) {
    if (envelope === undefined || typeof envelope === 'string') continue
    if (envelope.clientId !== '') clients.push(utf8Bytes(envelope.clientId))
    const { cmd } = envelope
    if (cmd.type === 'put') keys.push(cmd.key)
    else if (cmd.type === 'txn') for (const op of [...cmd.success, ...cmd.failure]) if (op.type === 'put') keys.push(op.key)
  }
  await overlay.prefetch('key', keys)
  await overlay.prefetch('dedup', clients)
}

/**
 * Applies `entries` on top of `source` (the committed state described by `meta`). Entries at or
 * below the applied index are skipped; the first one after it must be `appliedIndex + 1`.
 */
export async function prepareBatch(
  source: ReadSource,
  generation: Generation,
  meta: MetaState,
  entries: readonly CommittedEntry[],
): Promise<PreparedBatch> {
  const batch: BatchState = { overlay: new Overlay(source), meta, events: [] }
  const decoded = entries.map((entry) => decodeEntry(entry))
  await prefetch(batch.overlay, decoded)
  const results: ApplyResult[] = []
  for (const [i, entry] of entries.entries()) {
    if (!Number.isSafeInteger(entry.index) || entry.index <= 0) throw new TypeError(`entry index ${entry.index} is not a positive integer`)
    if (entry.index <= batch.meta.appliedIndex) continue
    if (entry.index !== batch.meta.appliedIndex + 1) {
      throw new TypeError(`entry ${entry.index} does not follow the applied index ${batch.meta.appliedIndex}`)
    }
    const envelope = decoded[i]
    let applied: Omit<ApplyResult, 'index'>
    if (envelope === undefined) {
      applied = { clientId: '', seq: 0, duplicate: false, result: { type: 'noop', revision: batch.meta.revision } }
    } else if (typeof envelope === 'string') {
      const error = toCommandError(new InvalidCommandError(`entry ${entry.index}: ${envelope}`))
      applied = { clientId: '', seq: 0, duplicate: false, result: { type: 'error', revision: batch.meta.revision, error } }
    } else {
      const { result, duplicate } = await applyEnvelope(batch, envelope)
      applied = { clientId: envelope.clientId, seq: envelope.seq, duplicate, result }
    }
    results.push({ index: entry.index, ...applied })
    batch.meta = { ...batch.meta, appliedIndex: entry.index }
  }
  batch.overlay.put('meta', STATE_KEY, encodeMeta(batch.meta))
  const records: Array<readonly [CachedSublevel, Uint8Array, Uint8Array | undefined]> = []
  for (const sublevel of ['key', 'dedup'] as const) for (const w of batch.overlay.writesOf(sublevel)) records.push([sublevel, w.key, w.value])
  return {
    records,
    ops: batch.overlay.operations(generation),
    results,
    events: batch.events,
    appliedIndex: batch.meta.appliedIndex,
    meta: batch.meta,
    generation,
  }
}
