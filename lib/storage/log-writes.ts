/**
 * Turning log changes into batch operations: chunking appended entries, rewriting the chunk that
 * straddles a truncation point, and deleting the chunks past it. All of it goes into the same batch
 * as the hard state, so a crash leaves either the old log or the new one.
 *
 * @module
 */
import { entrySize, type Entry } from '../raft/types.js'
import type { ChunkBounds } from './chunk-map.js'
import { indexKey } from './index-key.js'
import type { ExtraOperation, StoreLayout } from './level-database.js'
import { sealChunk } from './record-codec.js'

/** Limits on one stored chunk. */
export interface ChunkLimits {
  readonly maxEntries: number
  readonly maxBytes: number
}

/** Splits `entries` into chunks within `limits` (at least one entry each). */
export function splitChunks(entries: readonly Entry[], limits: ChunkLimits): Array<[from: number, to: number]> {
  const out: Array<[number, number]> = []
  let from = 0
  while (from < entries.length) {
    let to = from + 1
    let bytes = entrySize(entries[from])
    while (to < entries.length && to - from < limits.maxEntries) {
      bytes += entrySize(entries[to])
      if (bytes > limits.maxBytes) break
      to++
    }
    out.push([from, to])
    from = to
  }
  return out
}

/** A put of one sealed chunk holding `entries[from, to)`. */
export function chunkPut(layout: StoreLayout, entries: readonly Entry[], from: number, to: number): ExtraOperation {
  const key = indexKey(entries[from].index)
  return { type: 'put', sublevel: layout.log, key, value: sealChunk(key, entries, from, to) }
}

/** Deletes of the chunks listed. */
export function chunkDeletes(layout: StoreLayout, chunks: readonly ChunkBounds[]): ExtraOperation[] {
  return chunks.map((c) => ({ type: 'del', sublevel: layout.log, key: indexKey(c.first) }))
}
