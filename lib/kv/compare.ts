/**
 * Transaction guards, as etcd evaluates them (server/etcdserver/txn: `applyCompare`).
 *
 * @module
 */
import { compareBytes } from './bytes.js'
import type { Compare } from './commands.js'
import { currentKeyValues } from './read-range.js'
import type { ReadSource } from './read-source.js'
import { EMPTY } from './bytes.js'
import type { KeyValue } from './results.js'

const ZERO: KeyValue = { key: EMPTY, value: EMPTY, createRevision: 0, modRevision: 0, version: 0, lease: 0 }

function holds(compare: Compare, kv: KeyValue): boolean {
  let order: number
  switch (compare.target) {
    case 'value':
      order = compareBytes(kv.value, compare.value)
      break
    case 'version':
      order = kv.version - compare.value
      break
    case 'createRevision':
      order = kv.createRevision - compare.value
      break
    case 'modRevision':
      order = kv.modRevision - compare.value
      break
    case 'lease':
      order = kv.lease - compare.value
      break
  }
  switch (compare.result) {
    case '=':
      return order === 0
    case '!=':
      return order !== 0
    case '<':
      return order < 0
    case '>':
      return order > 0
  }
}

/**
 * Whether `compare` holds at the current state: for every key of its range, or, when the range
 * holds no key, for a zero key-value. A value compare on no key fails whatever its operator:
 * etcd cannot tell a missing value from an empty one, so it never lets one match.
 */
export async function evaluateCompare(source: ReadSource, compare: Compare): Promise<boolean> {
  let seen = false
  for await (const kv of currentKeyValues(source, compare.key, compare.rangeEnd)) {
    seen = true
    if (!holds(compare, kv)) return false
  }
  if (seen) return true
  return compare.target === 'value' ? false : holds(compare, ZERO)
}
