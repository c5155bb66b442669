/**
 * The storage conformance suite: what every engine under {@link LevelLogStore} must do, checked
 * against {@link MemoryStorage} (the reference the core was written against) wherever the two can
 * be compared. Run it the way abstract-level's own suite is run:
 *
 * ```ts
 * import t from 'tap'
 * suite({ test: (name, fn) => t.test(name, fn), factory: () => myTarget() })
 * ```
 *
 * It uses only a few assertions (see {@link ConformanceAssert}), so any runner fits.
 *
 * @module
 */
import { MetastoreError } from '../errors.js'
import { MemoryStorage } from '../raft/memory-storage.js'
import { RaftStorageError } from '../raft/storage.js'
import { EntryType, type ConfState, type Entry, type HardState, type Snapshot } from '../raft/types.js'
import { indexKey, parseIndexKey } from './index-key.js'
import type { LevelDatabase } from './level-database.js'
import type { LevelLogStore } from './level-log-store.js'
import type { EngineOptions } from './memory-engine.js'

/** The assertions the suite needs (tap's and node:test's assert-like objects have them). */
export interface ConformanceAssert {
  ok(value: unknown, message: string): void
  equal(actual: unknown, expected: unknown, message: string): void
  strictSame(actual: unknown, expected: unknown, message: string): void
}

/** One database to test, opened and reopened by the suite. */
export interface ConformanceTarget {
  /**
   * Opens a store over this target's data. The suite closes each store before opening the next,
   * and reopening must find what was written (unless `supports.reopen` is false).
   */
  open(options?: EngineOptions): Promise<LevelLogStore>
  /** Frees the data (temp directories) after the test's last store is closed. */
  destroy(): Promise<void>
}

/** Options of {@link suite}. */
export interface ConformanceOptions {
  /** Registers one named async test. */
  readonly test: (name: string, fn: (t: ConformanceAssert) => Promise<void>) => unknown
  /** Makes a fresh, empty target for each test. */
  readonly factory: () => ConformanceTarget | Promise<ConformanceTarget>
  /** What the engine can do; tests that need more are skipped. */
  readonly supports?: {
    /** Data survives closing and reopening the store. Default true. */
    readonly reopen?: boolean
  }
}

/** A deterministic PRNG (mulberry32): the suite's random histories are the same on every run. */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return Math.floor((((x ^ (x >>> 14)) >>> 0) / 4294967296) * n)
  }
}

function entry(index: number, term: number, size = 8): Entry {
  const data = new Uint8Array(size)
  for (let i = 0; i < size; i++) data[i] = (index * 31 + term * 7 + i) & 0xff
  return { index, term, type: EntryType.Normal, data }
}

function run(first: number, last: number, term: number, size?: number): Entry[] {
  const out: Entry[] = []
  for (let i = first; i <= last; i++) out.push(entry(i, term, size))
  return out
}

const conf = (voters: number[], learners: number[] = []): ConfState => ({
  voters,
  learners,
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
})

/** Comparable plain form of entries (Buffer vs Uint8Array must not matter). */
function plain(entries: readonly Entry[]): Array<[number, number, number, number[]]> {
  return entries.map((e) => [e.index, e.term, e.type, [...e.data]])
}

async function codeOf(work: () => unknown): Promise<string> {
  try {
    await work()
    return 'no error'
  } catch (err) {
    if (err instanceof RaftStorageError || err instanceof MetastoreError) return err.code
    if (err instanceof RangeError) return 'RangeError'
    if (err instanceof TypeError) return 'TypeError'
    return `other: ${String(err)}`
  }
}

/** Reads [lo, hi) whole, waiting (bounded) for old entries to be read back from disk. */
export async function readAll(store: LevelLogStore, lo: number, hi: number, timeoutMs = 10_000): Promise<Entry[]> {
  const out: Entry[] = []
  const deadline = Date.now() + timeoutMs
  while (lo < hi) {
    let got: Entry[]
    try {
      got = store.entries(lo, hi, Number.MAX_SAFE_INTEGER)
    } catch (err) {
      if (!(err instanceof RaftStorageError) || err.code !== 'UNAVAILABLE') throw err
      await nextLoad(store, deadline - Date.now())
      continue
    }
    out.push(...got)
    lo += got.length
  }
  return out
}

/** Waits for the store's next `entriesLoaded` event, failing after `timeoutMs`. */
export function nextLoad(store: LevelLogStore, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      store.off('entriesLoaded', done)
      reject(new Error(`no entriesLoaded event within ${timeoutMs} ms`))
    }, Math.max(0, timeoutMs))
    const done = (): void => {
      clearTimeout(timer)
      resolve()
    }
    store.once('entriesLoaded', done)
  })
}

/** Checks that the store shows exactly what the reference shows. */
async function assertSameAs(t: ConformanceAssert, store: LevelLogStore, ref: MemoryStorage, what: string): Promise<void> {
  t.equal(store.firstIndex(), ref.firstIndex(), `${what}: firstIndex`)
  t.equal(store.lastIndex(), ref.lastIndex(), `${what}: lastIndex`)
  const terms: number[] = []
  const refTerms: number[] = []
  for (let i = ref.firstIndex() - 1; i <= ref.lastIndex(); i++) {
    terms.push(store.term(i))
    refTerms.push(ref.term(i))
  }
  t.strictSame(terms, refTerms, `${what}: terms`)
  const entries = await readAll(store, store.firstIndex(), store.lastIndex() + 1)
  t.strictSame(plain(entries), plain(ref.entries(ref.firstIndex(), ref.lastIndex() + 1, Number.MAX_SAFE_INTEGER)), `${what}: entries`)
  t.strictSame(store.snapshot().metadata, ref.snapshot().metadata, `${what}: snapshot metadata`)
  t.strictSame([...store.snapshot().data], [...ref.snapshot().data], `${what}: snapshot data`)
}

/** Registers the conformance tests. */
export function suite(options: ConformanceOptions): void {
  const reopen = options.supports?.reopen !== false

  /** Runs `body` on a fresh target, closing every store and destroying the target afterwards. */
  const withTarget = (name: string, body: (t: ConformanceAssert, h: Harness) => Promise<void>): void => {
    options.test(name, async (t) => {
      const target = await options.factory()
      const h = new Harness(target)
      try {
        await body(t, h)
      } finally {
        await h.close()
        await target.destroy()
      }
    })
  }

  withTarget('a new store is empty', async (t, h) => {
    const s = await h.open()
    t.equal(s.firstIndex(), 1, 'firstIndex')
    t.equal(s.lastIndex(), 0, 'lastIndex')
    t.equal(s.term(0), 0, 'term(0)')
    t.strictSame(s.initialState().hardState, { term: 0, vote: 0, commit: 0 }, 'hard state')
    t.strictSame(s.entries(1, 1, 100), [], 'entries(1, 1)')
    t.equal(s.snapshot().metadata.index, 0, 'snapshot index')
    t.equal(await codeOf(() => s.term(1)), 'UNAVAILABLE', 'term past the end')
  })

  withTarget('append, read back, limit by size', async (t, h) => {
    const s = await h.open()
    await s.save({ entries: run(1, 10, 1, 100) })
    t.equal(s.lastIndex(), 10, 'lastIndex')
    t.strictSame(plain(s.entries(3, 6, Infinity)), plain(run(3, 5, 1, 100)), 'entries(3, 6)')
    t.equal(s.entries(1, 11, 250).length, 2, 'maxBytes keeps two 124-byte entries within 250')
    t.equal(s.entries(1, 11, 0).length, 1, 'maxBytes 0 still returns one entry')
    t.equal(await codeOf(() => s.entries(0, 2, 100)), 'COMPACTED', 'lo at the snapshot index')
    t.equal(await codeOf(() => s.entries(1, 12, 100)), 'RangeError', 'hi past the end')
  })

  withTarget('overlapping appends truncate the conflicting suffix', async (t, h) => {
    const s = await h.open()
    const ref = new MemoryStorage()
    for (const batch of [run(1, 10, 1), run(6, 8, 2), run(9, 12, 2), run(3, 3, 3), run(4, 20, 3)]) {
      await s.save({ entries: batch })
      ref.append(batch)
      await assertSameAs(t, s, ref, `after appending ${batch[0].index}..${batch[batch.length - 1].index}`)
    }
    t.equal(await codeOf(() => s.save({ entries: run(30, 31, 3) })), 'RangeError', 'a gap is refused')
    t.equal(s.lastIndex(), 20, 'the refused save changed nothing')
    if (reopen) await assertSameAs(t, await h.reopen(), ref, 'after reopening')
  })

  withTarget('hard state and conf state round trip', async (t, h) => {
    let s = await h.open()
    const hs: HardState = { term: 7, vote: 3, commit: 4 }
    await s.save({ hardState: hs, confState: conf([1, 2, 3], [4]), entries: run(1, 5, 7) })
    t.strictSame(s.initialState(), { hardState: hs, confState: conf([1, 2, 3], [4]) }, 'in memory')
    if (reopen) {
      s = await h.reopen()
      t.strictSame(s.initialState(), { hardState: hs, confState: conf([1, 2, 3], [4]) }, 'after reopening')
    }
  })

  withTarget('compaction drops entries with range deletes and keeps the start term', async (t, h) => {
    let s = await h.open({ maxChunkEntries: 4 })
    await s.save({ entries: [...run(1, 10, 1), ...run(11, 30, 2)], hardState: { term: 2, vote: 1, commit: 30 } })
    await s.compact(15)
    t.equal(s.firstIndex(), 16, 'firstIndex')
    t.equal(s.term(15), 2, 'term of the start')
    t.equal(await codeOf(() => s.term(14)), 'COMPACTED', 'term below the start')
    t.equal(await codeOf(() => s.entries(15, 17, 100)), 'COMPACTED', 'entries at the start')
    t.equal(await codeOf(() => s.compact(15)), 'COMPACTED', 'compacting again')
    t.equal(await codeOf(() => s.compact(31)), 'RangeError', 'compacting past the end')
    // Chunks of four entries start at 1, 5, 9, ...: the one holding 16 starts at 13.
    t.strictSame(await storedLogKeys(s.db), [13, 17, 21, 25, 29], 'chunks wholly below the start are deleted')
    if (reopen) {
      s = await h.reopen()
      t.equal(s.firstIndex(), 16, 'firstIndex after reopening')
      t.equal(s.term(15), 2, 'start term after reopening')
      t.strictSame(plain(await readAll(s, 16, 31)), plain(run(16, 30, 2)), 'entries after reopening')
    }
  })

  withTarget('compaction of a log of single-entry chunks deletes every chunk below', async (t, h) => {
    const s = await h.open()
    for (let i = 1; i <= 20; i++) await s.save({ entries: [entry(i, 1)] })
    await s.compact(12)
    t.strictSame(await storedLogKeys(s.db), [13, 14, 15, 16, 17, 18, 19, 20], 'chunks 1..12 are gone')
  })

  withTarget('createSnapshot records a snapshot and keeps the log', async (t, h) => {
    let s = await h.open()
    await s.save({ entries: run(1, 20, 3) })
    const data = new Uint8Array(3000).map((_, i) => i % 251)
    const snap = await s.createSnapshot(12, conf([1, 2]), data)
    t.strictSame(snap.metadata, { index: 12, term: 3, confState: conf([1, 2]) }, 'metadata')
    t.equal(s.firstIndex(), 1, 'entries are not dropped')
    t.equal(await codeOf(() => s.createSnapshot(12, conf([1]), data)), 'COMPACTED', 'not newer than the current one')
    t.equal(await codeOf(() => s.createSnapshot(21, conf([1]), data)), 'RangeError', 'past the end')
    if (reopen) {
      s = await h.reopen({ snapshotPieceBytes: 1000 })
      t.strictSame(s.snapshot().metadata, snap.metadata, 'metadata after reopening')
      t.strictSame([...s.snapshot().data], [...data], 'data after reopening')
      await s.createSnapshot(15, conf([1, 2, 3]), data.subarray(0, 2500))
      s = await h.reopen()
      t.equal(s.snapshot().metadata.index, 15, 'a newer snapshot replaces it')
      t.equal(s.snapshot().data.length, 2500, 'with its own data')
    }
  })

  withTarget('applySnapshot replaces the log atomically', async (t, h) => {
    let s = await h.open()
    await s.save({ entries: run(1, 30, 1), confState: conf([1]) })
    const snap: Snapshot = { metadata: { index: 20, term: 4, confState: conf([1, 2, 3]) }, data: Uint8Array.of(9, 8, 7) }
    await s.save({ snapshot: snap, hardState: { term: 4, vote: 2, commit: 20 }, entries: run(21, 23, 4) })
    const ref = new MemoryStorage()
    ref.applySnapshot(snap)
    ref.append(run(21, 23, 4))
    await assertSameAs(t, s, ref, 'after installing')
    t.strictSame(s.initialState().confState, conf([1, 2, 3]), 'membership comes from the snapshot')
    t.equal(await codeOf(() => s.applySnapshot(snap)), 'COMPACTED', 'an out-of-date snapshot is refused')
    t.ok(
      (await storedLogKeys(s.db)).every((first) => first >= 21),
      'no old chunk is left',
    )
    if (reopen) {
      s = await h.reopen()
      await assertSameAs(t, s, ref, 'after reopening')
      t.strictSame(s.initialState().hardState, { term: 4, vote: 2, commit: 20 }, 'hard state after reopening')
    }
  })

  withTarget('a random history matches MemoryStorage, across reopens', async (t, h) => {
    const random = prng(0x5eed)
    let s = await h.open({ maxChunkEntries: 4 })
    const ref = new MemoryStorage()
    let term = 1
    for (let step = 0; step < 120; step++) {
      const r = random(100)
      const first = ref.firstIndex()
      const last = ref.lastIndex()
      if (r < 60) {
        const start = Math.max(first, last + 1 - random(6))
        const n = 1 + random(9)
        if (random(4) === 0) term++
        const batch = run(start, start + n - 1, Math.max(term, ref.term(start - 1)))
        await s.save({ entries: batch, hardState: { term, vote: 1, commit: Math.min(first, start - 1) } })
        ref.append(batch)
      } else if (r < 72 && last > first) {
        const at = first + random(last - first)
        await s.compact(at)
        ref.compact(at)
      } else if (r < 82 && last > Math.max(ref.snapshot().metadata.index, first - 1)) {
        const low = Math.max(ref.snapshot().metadata.index, first - 1)
        const at = low + 1 + random(last - low)
        const data = Uint8Array.of(step, at)
        await s.createSnapshot(at, conf([1, 2]), data)
        ref.createSnapshot(at, conf([1, 2]), data)
      } else if (r < 88) {
        term++
        const snap: Snapshot = {
          metadata: { index: Math.max(last, ref.snapshot().metadata.index) + random(4) + 1, term, confState: conf([1, 2, 3]) },
          data: Uint8Array.of(step),
        }
        await s.applySnapshot(snap)
        ref.applySnapshot(snap)
      } else if (reopen) {
        s = await h.reopen({ maxChunkEntries: 1 + random(6) })
      }
      await assertSameAs(t, s, ref, `step ${step}`)
    }
  })

  withTarget('group commit: concurrent saves share batches and land in order', async (t, h) => {
    const s = await h.open()
    const ref = new MemoryStorage()
    const saves: Array<Promise<void>> = []
    const resolved: number[] = []
    // The reference's (lastIndex, last term) after each save: a resolved save must show one of these
    // for itself or a later save of its group, never an earlier state.
    const after: Array<[number, number]> = []
    let next = 1
    for (let k = 0; k < 200; k++) {
      // Every tenth save rewrites the last three entries with a higher term, as a new leader would.
      const batch = k % 10 === 9 ? run(next - 3, next - 1, 2 + k) : run(next, next + (k % 3), 2 + k - (k % 10))
      next = batch[batch.length - 1].index + 1
      ref.append(batch)
      after.push([ref.lastIndex(), ref.term(ref.lastIndex())])
      saves.push(
        s.save({ entries: batch, hardState: { term: 2 + k, vote: 1, commit: 0 } }).then(() => {
          resolved.push(k)
          const shown: [number, number] = [s.lastIndex(), s.term(s.lastIndex())]
          t.ok(
            after.slice(k).some(([last, term]) => last === shown[0] && term === shown[1]),
            `save ${k} is durable and visible when it resolves`,
          )
        }),
      )
    }
    await Promise.all(saves)
    t.strictSame(resolved, [...resolved].sort((a, b) => a - b), 'saves resolve in the order they were made')
    t.ok(s.stats.batches < 200, `200 saves took ${s.stats.batches} batches`)
    t.equal(s.stats.saves, 200, 'every save completed')
    await assertSameAs(t, s, ref, 'after all saves')
    t.strictSame(s.hardState, { term: 201, vote: 1, commit: 0 }, 'the last hard state wins')
    if (reopen) await assertSameAs(t, await h.reopen(), ref, 'after reopening')
  })

  withTarget('a failed batch applies nothing, extra ops included', async (t, h) => {
    let s = await h.open()
    const kv = s.db.sublevel<string, string>('kv', {})
    await s.save({ entries: run(1, 3, 1), extraOps: [{ type: 'put', sublevel: kv, key: 'applied', value: '3' }] })
    t.equal(await kv.get('applied'), '3', 'extra ops are written with the entries')
    const bad = { type: 'put', sublevel: kv, key: null, value: 'x' } as unknown as { type: 'put'; key: string; value: string }
    t.equal(
      await codeOf(() => s.save({ entries: run(4, 6, 1), extraOps: [{ type: 'put', sublevel: kv, key: 'applied', value: '6' }, bad] })),
      'STORAGE_UNAVAILABLE',
      'the save fails',
    )
    t.equal(s.lastIndex(), 3, 'the entries were not applied to the view')
    t.equal(await kv.get('applied'), '3', 'nor the extra ops')
    t.equal(await codeOf(() => s.save({ entries: run(4, 4, 1) })), 'STORAGE_UNAVAILABLE', 'the store refuses writes after a failed one')
    if (reopen) {
      s = await h.reopen()
      t.equal(s.lastIndex(), 3, 'nothing of the failed batch after reopening')
    }
  })

  withTarget('old entries are read back from disk: UNAVAILABLE, then served', async (t, h) => {
    const s = await h.open({ cacheEntries: 16, maxChunkEntries: 8 })
    for (let i = 1; i <= 400; i += 25) await s.save({ entries: run(i, i + 24, 1, 64) })
    t.equal(await codeOf(() => s.entries(5, 60, Infinity)), 'UNAVAILABLE', 'not in memory at first')
    t.equal(s.term(5), 1, 'term() answers without the data')
    const got = await readAll(s, 5, 60)
    t.strictSame(plain(got), plain(run(5, 59, 1, 64)), 'served once read back')
    t.ok(s.stats.loads >= 1, 'read from disk')
    t.strictSame(plain(s.entries(5, 60, Infinity)), plain(run(5, 59, 1, 64)), 'served from memory on the next call')
  })

  withTarget('close waits for queued writes and refuses new ones', async (t, h) => {
    const s = await h.open()
    const pending = s.save({ entries: run(1, 5, 1) })
    await s.close()
    await pending
    t.equal(await codeOf(() => s.save({ entries: run(6, 6, 1) })), 'CLOSED', 'CLOSED after close()')
    t.equal(s.lastIndex(), 5, 'the write queued before close() completed')
  })

  if (reopen) {
    withTarget('a damaged chunk past the commit index is cut at open', async (t, h) => {
      let s = await h.open({ maxChunkEntries: 5 })
      await s.save({ entries: run(1, 20, 1), hardState: { term: 1, vote: 1, commit: 12 } })
      await damageChunk(s.db, 16)
      s = await h.reopen()
      t.equal(s.lastIndex(), 15, 'the log ends before the damaged chunk')
      t.equal(s.recovery.truncatedFrom?.index, 16, 'the report names the cut')
      t.strictSame(plain(await readAll(s, 1, 16)), plain(run(1, 15, 1)), 'the rest is intact')
      await s.save({ entries: run(16, 18, 2) })
      s = await h.reopen()
      t.equal(s.lastIndex(), 18, 'the log grows again after the cut')
      t.equal(s.recovery.truncatedFrom, undefined, 'and opens cleanly')
    })

    withTarget('a damaged chunk at or below the commit index fails with CORRUPT_LOG', async (t, h) => {
      const s = await h.open({ maxChunkEntries: 5 })
      await s.save({ entries: run(1, 20, 1), hardState: { term: 1, vote: 1, commit: 12 } })
      await damageChunk(s.db, 11)
      await h.close()
      let error: unknown
      try {
        await h.open()
      } catch (err) {
        error = err
      }
      t.equal((error as MetastoreError | undefined)?.code, 'CORRUPT_LOG', 'CORRUPT_LOG')
      t.equal((error as { index?: number } | undefined)?.index, 11, 'naming the first damaged index')
    })

    withTarget('a damaged hard state fails with CORRUPT_LOG', async (t, h) => {
      const s = await h.open()
      await s.save({ entries: run(1, 3, 1), hardState: { term: 1, vote: 1, commit: 3 } })
      const state = s.db.sublevel('raft').sublevel<string, Uint8Array>('state', { keyEncoding: 'utf8', valueEncoding: 'view' })
      const value = await state.get('hard-state')
      await state.put('hard-state', flipped(value!))
      await h.close()
      t.equal(await codeOf(() => h.open()), 'CORRUPT_LOG', 'CORRUPT_LOG')
    })
  }
}

/** Opens and reopens stores over one target, closing the previous one first. */
class Harness {
  readonly #target: ConformanceTarget
  #store: LevelLogStore | undefined
  #options: EngineOptions = {}

  constructor(target: ConformanceTarget) {
    this.#target = target
  }

  async open(options: EngineOptions = {}): Promise<LevelLogStore> {
    await this.close()
    this.#options = options
    this.#store = await this.#target.open(options)
    return this.#store
  }

  /** Closes the store and opens it again with the same options, overridden by `options`. */
  reopen(options: EngineOptions = {}): Promise<LevelLogStore> {
    return this.open({ ...this.#options, ...options })
  }

  async close(): Promise<void> {
    const s = this.#store
    this.#store = undefined
    await s?.close()
  }
}

function logSublevel(db: LevelDatabase): LevelDatabase {
  return db.sublevel('raft').sublevel<Uint8Array, Uint8Array>('log', { keyEncoding: 'view', valueEncoding: 'view' })
}

/** The first indexes of the stored log chunks, in order. */
async function storedLogKeys(db: LevelDatabase): Promise<number[]> {
  const keys: number[] = []
  for await (const key of logSublevel(db).keys()) keys.push(parseIndexKey(key as Uint8Array))
  return keys
}

/** A copy of `value` with one byte in the middle flipped. */
function flipped(value: Uint8Array): Uint8Array {
  const out = Uint8Array.from(value)
  out[out.length >> 1] ^= 0x40
  return out
}

/** Flips a byte of the stored chunk that holds `index`, writing through the database. */
async function damageChunk(db: LevelDatabase, index: number): Promise<void> {
  const log = logSublevel(db)
  let target: Uint8Array | undefined
  for await (const key of log.keys({ lte: indexKey(index), reverse: true, limit: 1 })) target = key as Uint8Array
  if (target === undefined) throw new Error(`no chunk holds ${index}`)
  const value = (await log.get(target)) as Uint8Array
  await log.put(target, flipped(value))
}
