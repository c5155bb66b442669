/**
 * Range reads with etcd's semantics, over any {@link ReadSource}: at the current revision from
 * the `key` sublevel, at an older one from the `hist` index and the `rev` records.
 *
 * @module
 */
import { CompactedError } from '../errors.js'
import { EMPTY, bytesEqual, compareBytes } from './bytes.js'
import type { RangeCommand, SortOrder, SortTarget } from './commands.js'
import { FutureRevisionError } from './errors.js'
import { resolveRange } from './key-range.js'
import { escapeKey, histKey, histKeyEnd, parseHistKey, parseRevKey, revKey } from './layout.js'
import type { ReadSource, ScanRange } from './read-source.js'
import { decodeCurrent, decodeHist, decodeRevision } from './records.js'
import type { KeyValue, RangeResult } from './results.js'

/** The revisions a read is checked against. */
export interface Revisions {
  readonly revision: number
  readonly compactRevision: number
}

/**
 * The revision a read at `requested` (0 = current) reads at. Throws like etcd's MVCC layer:
 * a future revision is refused, and so is one before the compact revision (reading at exactly
 * the compact revision is allowed: every key's version as of then is kept).
 */
export function readRevision(requested: number | undefined, at: Revisions): number {
  const revision = requested !== undefined && requested > 0 ? requested : at.revision
  if (revision > at.revision) throw new FutureRevisionError(revision, at.revision)
  if (revision < at.compactRevision) throw new CompactedError(at.compactRevision)
  return revision
}

/** The live keys in `(key, rangeEnd)` at the current revision, in key order. */
export async function* currentKeyValues(
  source: ReadSource,
  key: Uint8Array,
  rangeEnd: Uint8Array | undefined,
): AsyncGenerator<KeyValue> {
  const range = resolveRange(key, rangeEnd)
  if (range.single) {
    const bytes = await source.get('key', range.key)
    if (bytes !== undefined) yield decodeCurrent(range.key, bytes)
    return
  }
  if (range.empty) return
  for await (const [k, v] of source.entries('key', { gte: range.start, lt: range.end })) yield decodeCurrent(k, v)
}

/** The version of `key` current at `revision`, if it existed then (and is not compacted away). */
export async function keyValueAt(source: ReadSource, key: Uint8Array, revision: number): Promise<KeyValue | undefined> {
  const escaped = escapeKey(key)
  for await (const [hk, hv] of source.entries('hist', { gte: histKey(escaped, revision), lt: histKeyEnd(escaped) })) {
    const { sub, deleted } = decodeHist(hv)
    if (deleted) return undefined
    const { revision: found } = parseHistKey(hk)
    const bytes = await source.get('rev', revKey(found, sub))
    return bytes === undefined ? undefined : decodeRevision(found, bytes)
  }
  return undefined
}

/** Versions stepped over one by one before a history scan seeks instead. */
const SEEK_AFTER = 8

interface Scan {
  readonly kvs: KeyValue[]
  readonly count: number
}

/** Scans the current state: the first `fetch` key-values (all if 0, none if `countOnly`) and the count. */
async function scanCurrent(
  source: ReadSource,
  request: RangeCommand,
  fetch: number,
  countOnly: boolean,
): Promise<Scan> {
  const range = resolveRange(request.key, request.rangeEnd)
  if (range.single) {
    const bytes = await source.get('key', range.key)
    if (bytes === undefined) return { kvs: [], count: 0 }
    return { kvs: countOnly ? [] : [decodeCurrent(range.key, bytes)], count: 1 }
  }
  if (range.empty) return { kvs: [], count: 0 }
  const kvs: KeyValue[] = []
  let count = 0
  let countFrom: Uint8Array | undefined = range.start
  let after = false
  if (!countOnly) {
    countFrom = undefined
    for await (const [k, v] of source.entries('key', { gte: range.start, lt: range.end })) {
      kvs.push(decodeCurrent(k, v))
      count++
      if (fetch > 0 && kvs.length === fetch) {
        countFrom = k
        after = true
        break
      }
    }
  }
  // The rest is only counted, without reading values.
  if (countFrom !== undefined) {
    const bounds = after ? { gt: countFrom, lt: range.end } : { gte: countFrom, lt: range.end }
    for await (const _ of source.keys('key', bounds)) count++
  }
  return { kvs, count }
}

/** Scans the history: for each key in range, its latest version at or before `revision`, unless that is a deletion. */
async function scanHistory(
  source: ReadSource,
  request: RangeCommand,
  revision: number,
  fetch: number,
  countOnly: boolean,
): Promise<Scan> {
  const range = resolveRange(request.key, request.rangeEnd)
  if (range.single) {
    const kv = await keyValueAt(source, range.key, revision)
    if (kv === undefined) return { kvs: [], count: 0 }
    return { kvs: countOnly ? [] : [kv], count: 1 }
  }
  if (range.empty) return { kvs: [], count: 0 }
  const pointers: Uint8Array[] = []
  let count = 0
  let group: Uint8Array | undefined
  let groupDone = false
  const upper = range.end === undefined ? undefined : escapeKey(range.end)
  let bounds: ScanRange = { gte: escapeKey(range.start), lt: upper }
  // Versions newer than `revision`, and those older than the one found, are stepped over; after
  // a few in a row the scan seeks past them instead (a new iterator), for keys with long histories.
  for (let seeking = true; seeking; ) {
    seeking = false
    let skipped = 0
    for await (const [hk, hv] of source.entries('hist', bounds)) {
      const { escaped, revision: found } = parseHistKey(hk)
      if (group === undefined || !bytesEqual(group, escaped)) {
        group = escaped.slice()
        groupDone = false
        skipped = 0
      }
      if (groupDone || found > revision) {
        if (++skipped > SEEK_AFTER) {
          bounds = { gte: groupDone ? histKeyEnd(group) : histKey(group, revision), lt: upper }
          seeking = true
          break
        }
        continue
      }
      groupDone = true
      skipped = 0
      const { sub, deleted } = decodeHist(hv)
      if (deleted) continue
      count++
      if (!countOnly && (fetch === 0 || pointers.length < fetch)) pointers.push(revKey(found, sub))
    }
  }
  if (countOnly) return { kvs: [], count }
  const values = await source.getMany('rev', pointers)
  const kvs: KeyValue[] = []
  values.forEach((bytes, i) => {
    if (bytes === undefined) return
    kvs.push(decodeRevision(parseRevKey(pointers[i]).revision, bytes))
  })
  return { kvs, count }
}

function sortKey(target: SortTarget): (a: KeyValue, b: KeyValue) => number {
  switch (target) {
    case 'key':
      return (a, b) => compareBytes(a.key, b.key)
    case 'value':
      return (a, b) => compareBytes(a.value, b.value)
    case 'version':
      return (a, b) => a.version - b.version
    case 'createRevision':
      return (a, b) => a.createRevision - b.createRevision
    case 'modRevision':
      return (a, b) => a.modRevision - b.modRevision
  }
}

/**
 * etcd's Range (server/etcdserver/apply: `Range`): fetch one more than `limit` to learn `more`,
 * or everything when sorting or filtering; prune by the min/max filters; sort (a non-key target
 * with no order sorts ascending; key order ascending is the scan order already); cut to `limit`.
 * Sorting is stable, so ties stay in key order.
 */
export async function readRange(source: ReadSource, request: RangeCommand, at: Revisions): Promise<RangeResult> {
  const revision = readRevision(request.revision, at)
  const limit = request.limit ?? 0
  const filtered =
    (request.minModRevision ?? 0) !== 0 ||
    (request.maxModRevision ?? 0) !== 0 ||
    (request.minCreateRevision ?? 0) !== 0 ||
    (request.maxCreateRevision ?? 0) !== 0
  let order: SortOrder = request.sortOrder ?? 'none'
  const target: SortTarget = request.sortTarget ?? 'key'
  const fetch = order !== 'none' || filtered ? 0 : limit > 0 ? limit + 1 : 0
  const countOnly = request.countOnly === true
  const scan =
    revision === at.revision
      ? await scanCurrent(source, request, fetch, countOnly)
      : await scanHistory(source, request, revision, fetch, countOnly)
  let kvs = scan.kvs
  if ((request.maxModRevision ?? 0) !== 0) kvs = kvs.filter((kv) => kv.modRevision <= request.maxModRevision!)
  if ((request.minModRevision ?? 0) !== 0) kvs = kvs.filter((kv) => kv.modRevision >= request.minModRevision!)
  if ((request.maxCreateRevision ?? 0) !== 0) kvs = kvs.filter((kv) => kv.createRevision <= request.maxCreateRevision!)
  if ((request.minCreateRevision ?? 0) !== 0) kvs = kvs.filter((kv) => kv.createRevision >= request.minCreateRevision!)
  if (target !== 'key' && order === 'none') order = 'ascend'
  else if (target === 'key' && order === 'ascend') order = 'none'
  if (order !== 'none') {
    const compare = sortKey(target)
    kvs.sort(order === 'ascend' ? compare : (a, b) => compare(b, a))
  }
  let more = false
  if (limit > 0 && kvs.length > limit) {
    kvs = kvs.slice(0, limit)
    more = true
  }
  if (request.keysOnly === true) kvs = kvs.map((kv) => ({ ...kv, value: EMPTY }))
  return { kvs, count: scan.count, more, revision: at.revision }
}
