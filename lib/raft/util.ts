import { entrySize, type Entry } from './types.js'

/** The longest prefix of `ents` within `maxBytes`, but never fewer than one entry. */
export function limitSize<T extends Entry>(ents: T[], maxBytes: number): T[] {
  if (ents.length === 0) return ents
  let size = entrySize(ents[0])
  let n = 1
  while (n < ents.length) {
    size += entrySize(ents[n])
    if (size > maxBytes) break
    n++
  }
  return n === ents.length ? ents : ents.slice(0, n)
}

/** Sorted copy of ids, the one order the core iterates in (determinism). */
export function sortedIds(ids: Iterable<number>): number[] {
  return [...ids].sort((a, b) => a - b)
}
