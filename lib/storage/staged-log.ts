/**
 * The merge of several save requests into one batch (group commit). Log changes compose: each
 * request truncates at its first index and appends, so the group as a whole truncates at the lowest
 * first index and appends the merged entries; hard and conf state keep the last value given.
 *
 * @module
 */
import type { ConfState, Entry, HardState } from '../raft/types.js'
import type { ExtraOperation } from './level-database.js'
import type { SaveRequest } from './level-log-store.js'

/** Checks that `entries` have consecutive indexes and sane fields (a programming error otherwise). */
export function assertEntries(entries: readonly Entry[]): void {
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]
    if (
      typeof e !== 'object' ||
      e === null ||
      !Number.isSafeInteger(e.index) ||
      !Number.isSafeInteger(e.term) ||
      e.term < 0 ||
      !(e.data instanceof Uint8Array) ||
      (e.type !== 0 && e.type !== 1)
    ) {
      throw new TypeError(`entry ${i} of the save is malformed`)
    }
    if (e.index !== entries[0].index + i) {
      throw new TypeError(`entries must have consecutive indexes: ${entries[0].index + i} expected, got ${e.index}`)
    }
  }
  if (entries.length > 0 && entries[0].index < 1) throw new TypeError(`log indexes start at 1, got ${entries[0].index}`)
}

export class StagedLog {
  readonly #firstIndex: number
  readonly #lastIndex: number
  /** The first index written by the group; -1 before any entries. */
  start = -1
  /** The entries the group writes, from `start` on. */
  entries: Entry[] = []
  hardState: HardState | undefined
  confState: ConfState | undefined
  extraOps: ExtraOperation[] = []

  /** Staging over a durable log of [firstIndex, lastIndex] (empty when lastIndex < firstIndex). */
  constructor(firstIndex: number, lastIndex: number) {
    this.#firstIndex = firstIndex
    this.#lastIndex = lastIndex
  }

  /** The last index once the staged entries are written. */
  get last(): number {
    return this.entries.length > 0 ? this.start + this.entries.length - 1 : this.#lastIndex
  }

  /** Adds one request; throws (changing nothing) if it is invalid. */
  add(request: SaveRequest): void {
    const entries = request.entries ?? []
    assertEntries(entries)
    let from = 0
    if (entries.length > 0) {
      const lastNew = entries[0].index + entries.length - 1
      // Entries at or before the log start are already in the snapshot.
      from = lastNew < this.#firstIndex ? entries.length : Math.max(0, this.#firstIndex - entries[0].index)
      if (from < entries.length && entries[from].index > this.last + 1) {
        throw new RangeError(`missing log entry [last: ${this.last}, append at: ${entries[from].index}]`)
      }
    }
    if (from < entries.length) {
      const s = entries[from].index
      if (this.entries.length === 0 || s <= this.start) {
        this.start = s
        this.entries = entries.slice(from)
      } else {
        this.entries.length = s - this.start
        for (let i = from; i < entries.length; i++) this.entries.push(entries[i])
      }
    }
    if (request.hardState !== undefined) this.hardState = request.hardState
    if (request.confState !== undefined) this.confState = request.confState
    if (request.extraOps !== undefined) this.extraOps.push(...request.extraOps)
  }
}
