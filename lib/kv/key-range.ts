/**
 * etcd's key range convention, used by range reads, deletes, compares and watches:
 *
 * - `rangeEnd` undefined (or empty): the single key `key`;
 * - `rangeEnd` = `"\0"` (one zero byte): every key `>= key` (so `key = "\0", rangeEnd = "\0"` is
 *   every key);
 * - otherwise the half-open interval `[key, rangeEnd)`, empty when `rangeEnd <= key`.
 *
 * @module
 */
import { compareBytes } from './bytes.js'

/** The `rangeEnd` that means "no upper bound": one zero byte, as in etcd. */
export const NO_END: Uint8Array = Uint8Array.of(0)

/**
 * The `rangeEnd` that selects every key starting with `prefix` (etcd's `GetPrefixRangeEnd`):
 * the prefix with its last byte below 0xff incremented and what follows dropped. A prefix of
 * only 0xff bytes (or an empty one) has no such key and gets {@link NO_END}.
 *
 * @example
 * ```ts
 * store.range({ key: utf8('users/'), rangeEnd: prefixEnd(utf8('users/')) })
 * ```
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i] < 0xff) {
      const end = prefix.slice(0, i + 1)
      end[i]++
      return end
    }
  }
  return NO_END
}

/** A key range resolved from `(key, rangeEnd)`. `end` undefined means unbounded. */
export type ResolvedRange =
  | { readonly single: true; readonly key: Uint8Array }
  | { readonly single: false; readonly start: Uint8Array; readonly end: Uint8Array | undefined; readonly empty: boolean }

/** Resolves etcd's `(key, rangeEnd)` pair. */
export function resolveRange(key: Uint8Array, rangeEnd: Uint8Array | undefined): ResolvedRange {
  if (rangeEnd === undefined || rangeEnd.length === 0) return { single: true, key }
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { single: false, start: key, end: undefined, empty: false }
  return { single: false, start: key, end: rangeEnd, empty: compareBytes(rangeEnd, key) <= 0 }
}

/** Whether `candidate` falls in the range `(key, rangeEnd)`. */
export function inRange(candidate: Uint8Array, key: Uint8Array, rangeEnd: Uint8Array | undefined): boolean {
  const range = resolveRange(key, rangeEnd)
  if (range.single) return compareBytes(candidate, range.key) === 0
  if (range.empty) return false
  return compareBytes(candidate, range.start) >= 0 && (range.end === undefined || compareBytes(candidate, range.end) < 0)
}
