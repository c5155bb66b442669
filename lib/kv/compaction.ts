/**
 * Physical compaction: removes the versions a compaction made unreachable. The `compact`
 * command only moves the compact revision C (reads below it are refused from then on); this
 * removes, in bounded steps that can run between batches and resume after a restart:
 *
 * - every version older than the latest version at or before C of its key;
 * - a deletion at or before C that is the latest such version of its key (the key was gone
 *   at C), except deletions at exactly C, which are kept until the next compaction so that a
 *   watch from C (allowed, as in etcd) still sees them.
 *
 * What it removes is never visible (reads and watches at or after C do not reach it), so doing
 * it late, or at a different time on each replica, does not change the replicated state.
 *
 * @module
 */
import { toLatin1 } from './bytes.js'
import { escapeKey, histKey, histKeyEnd, parseHistKey, parseRevKey, revKey, revKeyEnd, STATE_KEY } from './layout.js'
import type { Generation } from './layout.js'
import { Overlay } from './overlay.js'
import type { ReadSource } from './read-source.js'
import { decodeHist, decodeRevision, encodeMeta } from './records.js'
import type { MetaState } from './records.js'
import type { ExtraOperation } from '../storage/level-database.js'

/**
 * Where a compaction run is: the last `rev` key looked at, for the compact revision `target`.
 * A cursor for another target (a compaction applied meanwhile) is ignored and the run starts
 * again from `compactedThrough`, so deletions kept at the old target are looked at again.
 */
export interface CompactionCursor {
  readonly after: Uint8Array | undefined
  readonly target: number
}

/** A cursor for a fresh run. */
export const FRESH_CURSOR: CompactionCursor = { after: undefined, target: 0 }

/** One step of physical compaction. */
export interface CompactionStep {
  readonly ops: ExtraOperation[]
  readonly meta: MetaState
  readonly cursor: CompactionCursor
  readonly done: boolean
  /** Versions removed by this step. */
  readonly removed: number
}

interface Newest {
  readonly key: Uint8Array
  readonly revision: number
  readonly sub: number
  readonly deleted: boolean
}

/**
 * Looks at up to `limit` versions from the cursor (or, on a fresh run, from the revision the
 * last run reached) up to the compact revision, and returns the deletions and the new meta.
 */
export async function compactionStep(
  source: ReadSource,
  generation: Generation,
  meta: MetaState,
  cursor: CompactionCursor,
  limit: number,
): Promise<CompactionStep> {
  const target = meta.compactRevision
  if (meta.compactedThrough >= target) return { ops: [], meta, cursor, done: true, removed: 0 }
  // Starts at the last compact revision itself, whose deletions were kept (see above).
  const resume = cursor.after !== undefined && cursor.target === target ? cursor.after : undefined
  const range = resume === undefined ? { gte: revKey(meta.compactedThrough, 0), lte: revKeyEnd(target) } : { gt: resume, lte: revKeyEnd(target) }
  const newest = new Map<string, Newest>()
  let seen = 0
  let last: Uint8Array | undefined
  for await (const [rk, rv] of source.entries('rev', range)) {
    const { revision, sub } = parseRevKey(rk)
    const kv = decodeRevision(revision, rv)
    // Later versions of a key within the step replace earlier ones: the scan is in revision order.
    newest.set(toLatin1(kv.key), { key: kv.key, revision, sub, deleted: kv.version === 0 })
    last = rk
    if (++seen === limit) break
  }
  const overlay = new Overlay(source)
  let removed = 0
  const remove = (revision: number, sub: number, escaped: Uint8Array): void => {
    overlay.del('hist', histKey(escaped, revision))
    overlay.del('rev', revKey(revision, sub))
    removed++
  }
  for (const version of newest.values()) {
    const escaped = escapeKey(version.key)
    for await (const [hk, hv] of source.entries('hist', { gt: histKey(escaped, version.revision), lt: histKeyEnd(escaped) })) {
      remove(parseHistKey(hk).revision, decodeHist(hv).sub, escaped)
    }
    if (version.deleted && version.revision < target) remove(version.revision, version.sub, escaped)
  }
  const done = seen < limit
  const through = done ? target : Math.max(meta.compactedThrough, parseRevKey(last!).revision - 1)
  const next: MetaState = { ...meta, compactedThrough: through }
  overlay.put('meta', STATE_KEY, encodeMeta(next))
  return { ops: overlay.operations(generation), meta: next, cursor: { after: last ?? resume, target }, done, removed }
}
