/**
 * The durable Raft log on an abstract-level database: a synchronous {@link RaftStorage} view for the
 * core, backed by atomic, fsynced, group-committed batches.
 *
 * @module
 */
import { EventEmitter } from 'eventemitter3'
import { ClosedError, MetastoreError } from '../errors.js'
import { RaftStorageError, type RaftStorage } from '../raft/storage.js'
import {
  entrySize,
  type ConfState,
  type Entry,
  type HardState,
  type Snapshot,
} from '../raft/types.js'
import { ChunkReader } from './chunk-reader.js'
import type { ChunkMap } from './chunk-map.js'
import { describeEngineError, mapOpenError } from './engine-errors.js'
import { indexKey } from './index-key.js'
import {
  LAYOUT_VERSION,
  StateKey,
  storeLayout,
  syncOptions,
  writeBatch,
  type ExtraOperation,
  type LevelDatabase,
  type StoreLayout,
} from './level-database.js'
import { chunkDeletes, chunkPut, splitChunks, type ChunkLimits } from './log-writes.js'
import { readStoredState, snapshotPieceKey, stateRecordKey } from './read-state.js'
import {
  encodeConfState,
  encodeHardState,
  encodeLogStart,
  encodeSnapshotMetadata,
} from './record-codec.js'
import { sealRecord } from './record.js'
import { recoverLog } from './recover-log.js'
import { StagedLog } from './staged-log.js'
import { TailCache } from './tail-cache.js'
import type { TermRuns } from './term-runs.js'

/** Options of {@link LevelLogStore.open}; every one has a default. */
export interface LevelLogStoreOptions {
  /** Name of the parent sublevel holding the store's sublevels. Default `'raft'`. */
  readonly prefix?: string
  /**
   * Write with `sync: true` (fsync before a save resolves). Default `true`. Turning it off trades
   * durability across power loss for speed and breaks DESIGN rule 1; meant for tests and benches.
   */
  readonly sync?: boolean
  /** Most entries kept in the in-memory hot tail. Default 8192. */
  readonly cacheEntries?: number
  /** Most bytes (data plus 24 per entry) kept in the hot tail. Default 16 MiB. */
  readonly cacheBytes?: number
  /** Bytes of old chunks kept after being read back from disk. Default 16 MiB. */
  readonly chunkCacheBytes?: number
  /** Most entries stored in one log record. Default 1024. */
  readonly maxChunkEntries?: number
  /** Most bytes stored in one log record (one oversized entry still gets its own). Default 1 MiB. */
  readonly maxChunkBytes?: number
  /** Size of the pieces snapshot data is stored in. Default 1 MiB. */
  readonly snapshotPieceBytes?: number
  /** Close `db` when the store is closed. Default `false`: the caller opened it, the caller closes it. */
  readonly closeDb?: boolean
  /** What to call the database in error messages. Default: `db.location`, else the class name. */
  readonly location?: string
}

/**
 * One durable write. Its parts are applied in this order, in one atomic batch: the snapshot (which
 * replaces the log), the entries (truncating any conflicting suffix), the conf state, the hard
 * state, then the extra operations.
 */
export interface SaveRequest {
  readonly hardState?: HardState
  readonly entries?: readonly Entry[]
  readonly snapshot?: Snapshot
  /** The membership to report from `initialState()` after a restart. */
  readonly confState?: ConfState
  /**
   * Writes of the caller's own, on sublevels of the same database, made atomic with the rest (the
   * state machine's effects and its applied index).
   */
  readonly extraOps?: readonly ExtraOperation[]
  /**
   * `false` when nothing in the request needs an fsync before the promise resolves: a hard state
   * whose commit index alone moved (Raft's `mustSync` is false). It is still written, in order, and
   * made durable by the next synced write. Default `true`. A group of saves is synced if one needs it.
   */
  readonly sync?: boolean
}

/** What opening found and repaired. */
export interface RecoveryReport {
  /** Set when a damaged tail past the commit index was cut at `index`. */
  readonly truncatedFrom?: { readonly index: number; readonly reason: string }
  /** Log records deleted at open (damaged, past the damage, or compacted leftovers). */
  readonly deletedRecords: number
}

/** Counters, for benchmarks and metrics. */
export interface LevelLogStoreStats {
  /** Batches written. */
  readonly batches: number
  /** Save requests completed (several share one batch under group commit). */
  readonly saves: number
  /** Entries written. */
  readonly entriesWritten: number
  /** Reads of old entries from disk. */
  readonly loads: number
}

/** Events of a {@link LevelLogStore}. */
export interface LevelLogStoreEvents {
  /**
   * A read from disk that `entries()` started (answering `UNAVAILABLE`) for [lo, hi) has finished:
   * ask again. The retry succeeds, or throws the read's failure (`CORRUPT_LOG`), or (if the log
   * changed or the chunks were evicted meanwhile) starts another read.
   */
  entriesLoaded: [range: { lo: number; hi: number }]
}

interface Deferred<T> {
  resolve(value: T): void
  reject(err: unknown): void
}

type Job =
  | { readonly kind: 'save'; readonly request: SaveRequest; readonly done: Deferred<void> }
  | {
      readonly kind: 'create-snapshot'
      readonly index: number
      readonly confState: ConfState
      readonly data: Uint8Array
      readonly done: Deferred<Snapshot>
    }
  | { readonly kind: 'compact'; readonly index: number; readonly done: Deferred<void> }

interface ResolvedOptions {
  readonly prefix: string
  readonly sync: boolean
  readonly cacheEntries: number
  readonly cacheBytes: number
  readonly chunkCacheBytes: number
  readonly chunk: ChunkLimits
  readonly snapshotPieceBytes: number
  readonly closeDb: boolean
  readonly location: string
}

/** At most this many save requests share one batch, to bound a batch's size. */
const MAX_GROUP = 4096

function resolveOptions(db: LevelDatabase, options: LevelLogStoreOptions): ResolvedOptions {
  const positive = (name: string, v: number | undefined, fallback: number): number => {
    if (v === undefined) return fallback
    if (!Number.isSafeInteger(v) || v < 1) throw new TypeError(`option ${name} must be a positive integer, got ${v}`)
    return v
  }
  const dbLocation = (db as { location?: unknown }).location
  return Object.freeze({
    prefix: options.prefix ?? 'raft',
    sync: options.sync ?? true,
    cacheEntries: positive('cacheEntries', options.cacheEntries, 8192),
    cacheBytes: positive('cacheBytes', options.cacheBytes, 16 << 20),
    chunkCacheBytes: positive('chunkCacheBytes', options.chunkCacheBytes, 16 << 20),
    chunk: Object.freeze({
      maxEntries: positive('maxChunkEntries', options.maxChunkEntries, 1024),
      maxBytes: positive('maxChunkBytes', options.maxChunkBytes, 1 << 20),
    }),
    snapshotPieceBytes: positive('snapshotPieceBytes', options.snapshotPieceBytes, 1 << 20),
    closeDb: options.closeDb ?? false,
    location: options.location ?? (typeof dbLocation === 'string' ? dbLocation : `(${db.constructor.name})`),
  })
}

function deferred<T>(): { promise: Promise<T>; done: Deferred<T> } {
  let done!: Deferred<T>
  const promise = new Promise<T>((resolve, reject) => {
    done = { resolve, reject }
  })
  return { promise, done }
}

function sealedState(layout: StoreLayout, name: string, payload: Uint8Array): ExtraOperation {
  return { type: 'put', sublevel: layout.state, key: name, value: sealRecord(stateRecordKey(name), payload) }
}

/**
 * The Raft log, hard state, membership and snapshot of one node, on any abstract-level database.
 *
 * The core reads it synchronously through {@link RaftStorage}: the most recent entries and the term
 * of every entry are in memory; older entries are read back from disk on demand (`entries()` throws
 * `UNAVAILABLE`, starts the read and emits `entriesLoaded` when a retry will succeed). The driver
 * writes through {@link save}, which resolves once the write is durable; saves that arrive while a
 * batch is being written are merged into the next one (group commit). The view changes only when a
 * write is durable, so the core never sees an entry a crash could take back.
 *
 * @example
 * ```ts
 * const store = await LevelLogStore.open(new MemoryLevel())
 * await store.save({ hardState: { term: 1, vote: 1, commit: 0 }, entries: [{ index: 1, term: 1, type: 0, data }] })
 * store.lastIndex() // 1
 * ```
 */
export class LevelLogStore extends EventEmitter<LevelLogStoreEvents> implements RaftStorage {
  /** The database the store lives in; the state machine may add its own sublevels to it. */
  readonly db: LevelDatabase
  /** What opening found and repaired. */
  readonly recovery: RecoveryReport
  readonly #layout: StoreLayout
  readonly #options: ResolvedOptions

  #hardState: HardState
  #confState: ConfState
  #snapshot: Snapshot
  // Invariant: the view below describes exactly what is durable in the database.
  // terms covers [base, lastIndex] where base is the log start (snapshot or compaction point).
  readonly #terms: TermRuns
  readonly #chunks: ChunkMap
  readonly #tail: TailCache
  readonly #reader: ChunkReader

  readonly #queue: Job[] = []
  #writing = false
  #idleWaiters: Array<() => void> = []
  #failure: MetastoreError | undefined
  #closing: Promise<void> | undefined
  #stats = { batches: 0, saves: 0, entriesWritten: 0 }

  private constructor(
    layout: StoreLayout,
    options: ResolvedOptions,
    state: {
      hardState: HardState
      confState: ConfState
      snapshot: Snapshot
      terms: TermRuns
      chunks: ChunkMap
      tail: Entry[]
      recovery: RecoveryReport
    },
  ) {
    super()
    this.db = layout.db
    this.#layout = layout
    this.#options = options
    this.#hardState = state.hardState
    this.#confState = state.confState
    this.#snapshot = state.snapshot
    this.#terms = state.terms
    this.#chunks = state.chunks
    const tailStart = state.tail.length > 0 ? state.tail[0].index : state.terms.lastIndex + 1
    this.#tail = new TailCache(tailStart, options.cacheEntries, options.cacheBytes)
    this.#tail.append(state.tail)
    this.#reader = new ChunkReader({
      layout,
      location: options.location,
      chunks: this.#chunks,
      terms: this.#terms,
      tail: this.#tail,
      cacheBytes: options.chunkCacheBytes,
      loaded: (range) => this.emit('entriesLoaded', range),
    })
    this.recovery = state.recovery
  }

  /**
   * Opens the store in `db` (opening `db` first if needed): reads and verifies everything, cuts a
   * damaged tail that was never committed, and fails with `CORRUPT_LOG` on any other damage.
   */
  static async open(db: LevelDatabase, options: LevelLogStoreOptions = {}): Promise<LevelLogStore> {
    const resolved = resolveOptions(db, options)
    try {
      await db.open()
    } catch (err) {
      throw mapOpenError(err, resolved.location)
    }
    try {
      return await LevelLogStore.#openIn(db, resolved)
    } catch (err) {
      if (resolved.closeDb) await db.close().catch(() => {})
      throw err
    }
  }

  static async #openIn(db: LevelDatabase, options: ResolvedOptions): Promise<LevelLogStore> {
    const layout = storeLayout(db, options.prefix)
    const stored = await readStoredState(layout, options.location)
    if (stored.layoutVersion !== undefined && stored.layoutVersion !== LAYOUT_VERSION) {
      throw new MetastoreError(
        'STORAGE_UNAVAILABLE',
        `the store at ${options.location} has layout version ${stored.layoutVersion}; this version reads ${LAYOUT_VERSION}`,
      )
    }
    const recovered = await recoverLog({
      layout,
      location: options.location,
      logStart: stored.logStart,
      hardState: stored.hardState,
      cacheEntries: options.cacheEntries,
      cacheBytes: options.cacheBytes,
      sync: options.sync,
    })
    if (stored.layoutVersion === undefined) {
      await db.batch([sealedState(layout, StateKey.format, Uint8Array.of(LAYOUT_VERSION))], syncOptions(options.sync))
    }
    return new LevelLogStore(layout, options, {
      hardState: stored.hardState,
      confState: stored.confState ?? stored.snapshot.metadata.confState,
      snapshot: stored.snapshot,
      terms: recovered.terms,
      chunks: recovered.chunks,
      tail: recovered.tail,
      recovery: {
        deletedRecords: recovered.deletedRecords,
        ...(recovered.truncatedFrom !== undefined ? { truncatedFrom: recovered.truncatedFrom } : {}),
      },
    })
  }

  // ---- RaftStorage: the core's synchronous view ----

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.#hardState, confState: this.#confState }
  }

  /** The hard state last made durable. */
  get hardState(): HardState {
    return this.#hardState
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const base = this.#terms.baseIndex
    if (lo <= base) throw new RaftStorageError('COMPACTED')
    const last = this.#terms.lastIndex
    if (hi > last + 1) throw new RangeError(`entries hi ${hi} is out of bound, last index ${last}`)
    const out: Entry[] = []
    let size = 0
    let i = lo
    while (i < hi) {
      if (i >= this.#tail.first) {
        const e = this.#tail.get(i)!
        size += entrySize(e)
        if (out.length > 0 && size > maxBytes) break
        out.push(e)
        i++
        continue
      }
      const bounds = this.#chunks.find(i)
      const chunk = bounds === undefined ? undefined : this.#reader.cached(bounds.first)
      if (bounds === undefined || chunk === undefined) {
        if (this.#closing !== undefined) throw new ClosedError('the log store is closed')
        this.#reader.request(i, hi)
        throw new RaftStorageError('UNAVAILABLE', `entries from ${i} are being read from disk`)
      }
      const end = Math.min(hi, bounds.last + 1, this.#tail.first)
      for (; i < end; i++) {
        const e = chunk[i - bounds.first]
        size += entrySize(e)
        if (out.length > 0 && size > maxBytes) return out
        out.push(e)
      }
    }
    return out
  }

  term(index: number): number {
    if (index < this.#terms.baseIndex) throw new RaftStorageError('COMPACTED')
    if (index > this.#terms.lastIndex) throw new RaftStorageError('UNAVAILABLE')
    return this.#terms.termAt(index)
  }

  firstIndex(): number {
    return this.#terms.baseIndex + 1
  }

  lastIndex(): number {
    return this.#terms.lastIndex
  }

  snapshot(): Snapshot {
    return this.#snapshot
  }

  // ---- writes ----

  /**
   * Makes `request` durable in one atomic batch and then shows it in the view. Resolves when the
   * batch is synced. Requests that arrive while a batch is being written share the next one.
   * Rejects with a `RangeError` if the entries leave a gap after the log, `COMPACTED` (a
   * {@link RaftStorageError}) for a snapshot older than the current one, `CLOSED` after
   * {@link close}, and `STORAGE_UNAVAILABLE` once a write has failed (the store must be reopened).
   */
  save(request: SaveRequest): Promise<void> {
    const { promise, done } = deferred<void>()
    this.#enqueue({ kind: 'save', request, done })
    return promise
  }

  /** Replaces the log with `snap` (a follower installing a leader's snapshot), atomically. */
  applySnapshot(snap: Snapshot): Promise<void> {
    return this.save({ snapshot: snap })
  }

  /**
   * Records a snapshot of the state machine at `index` (applied, so in the log) to send to
   * followers; does not drop entries (see {@link compact}).
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Promise<Snapshot> {
    const { promise, done } = deferred<Snapshot>()
    this.#enqueue({ kind: 'create-snapshot', index, confState, data, done })
    return promise
  }

  /**
   * Discards the entries before `compactIndex` (which stays as the log start, keeping its term):
   * the new start is written durably first, then the old chunks go with a range delete.
   */
  compact(compactIndex: number): Promise<void> {
    const { promise, done } = deferred<void>()
    this.#enqueue({ kind: 'compact', index: compactIndex, done })
    return promise
  }

  /**
   * Waits for queued writes and reads, then closes the database if the store was asked to
   * (`closeDb`). Later writes reject with `CLOSED`.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await new Promise<void>((resolve) => {
        if (!this.#writing && this.#queue.length === 0) resolve()
        else this.#idleWaiters.push(resolve)
      })
      await this.#reader.idle()
      if (this.#options.closeDb) await this.db.close()
    })()
    return this.#closing
  }

  /** Counters since open. */
  get stats(): LevelLogStoreStats {
    return { ...this.#stats, loads: this.#reader.loads }
  }

  #enqueue(job: Job): void {
    if (this.#closing !== undefined) {
      job.done.reject(new ClosedError('the log store is closed'))
      return
    }
    this.#queue.push(job)
    if (!this.#writing) {
      this.#writing = true
      void this.#drain()
    }
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const head = this.#queue[0]
        if (head.kind === 'save' && head.request.snapshot === undefined) {
          let n = 1
          while (n < this.#queue.length && n < MAX_GROUP) {
            const next = this.#queue[n]
            if (next.kind !== 'save' || next.request.snapshot !== undefined) break
            n++
          }
          const group = this.#queue.splice(0, n) as Array<Extract<Job, { kind: 'save' }>>
          await this.#run(group, (jobs) => this.#writeSaves(jobs))
        } else {
          this.#queue.shift()
          await this.#run([head], ([job]) => this.#writeOne(job))
        }
      }
    } finally {
      this.#writing = false
      const waiters = this.#idleWaiters
      this.#idleWaiters = []
      for (const w of waiters) w()
    }
  }

  /** Runs one batch's worth of jobs; any error not already handled fails them all. */
  async #run<J extends Job>(jobs: J[], write: (jobs: J[]) => Promise<void>): Promise<void> {
    if (this.#failure !== undefined) {
      for (const job of jobs) job.done.reject(this.#failure)
      return
    }
    try {
      await write(jobs)
    } catch (err) {
      for (const job of jobs) job.done.reject(err)
    }
  }

  /** Writes `ops` durably; a failure leaves the database in an unknown state, so it is final. */
  async #commit(ops: ExtraOperation[], sync = true): Promise<void> {
    try {
      await writeBatch(this.db, ops, this.#options.sync && sync)
    } catch (err) {
      this.#failure = new MetastoreError(
        'STORAGE_UNAVAILABLE',
        `a write to ${this.#options.location} failed; the store must be reopened: ${describeEngineError(err)}`,
        { cause: err },
      )
      throw this.#failure
    }
    this.#stats.batches++
  }

  /** Group commit: merges the saves in order, writes them as one batch, then updates the view. */
  async #writeSaves(jobs: Array<Extract<Job, { kind: 'save' }>>): Promise<void> {
    const staged = new StagedLog(this.#terms.baseIndex + 1, this.#terms.lastIndex)
    const accepted: typeof jobs = []
    for (const job of jobs) {
      try {
        staged.add(job.request)
        accepted.push(job)
      } catch (err) {
        job.done.reject(err)
      }
    }
    if (accepted.length === 0) return

    const ops: ExtraOperation[] = []
    const appended = staged.entries
    const truncating = appended.length > 0 && staged.start <= this.#terms.lastIndex
    if (truncating) ops.push(...(await this.#truncateOps(staged.start)))
    for (const [from, to] of splitChunks(appended, this.#options.chunk)) ops.push(chunkPut(this.#layout, appended, from, to))
    this.#stateOps(ops, staged.confState, staged.hardState)
    ops.push(...staged.extraOps)

    if (truncating) this.#reader.invalidate()
    await this.#commit(ops, accepted.some((job) => job.request.sync !== false))
    if (truncating) {
      this.#reader.invalidate()
      this.#dropFrom(staged.start)
    }
    this.#appendToView(appended)
    if (staged.confState !== undefined) this.#confState = staged.confState
    if (staged.hardState !== undefined) this.#hardState = staged.hardState
    this.#stats.saves += accepted.length
    for (const job of accepted) job.done.resolve()
  }

  async #writeOne(job: Job): Promise<void> {
    switch (job.kind) {
      case 'save':
        await this.#writeSnapshotSave(job)
        return
      case 'create-snapshot':
        job.done.resolve(await this.#createSnapshot(job.index, job.confState, job.data))
        return
      case 'compact':
        await this.#compact(job.index)
        job.done.resolve()
        return
    }
  }

  /** A save carrying a snapshot: the log is replaced by it, then the rest of the save applies. */
  async #writeSnapshotSave(job: Extract<Job, { kind: 'save' }>): Promise<void> {
    const snap = job.request.snapshot!
    const { index, term } = snap.metadata
    if (index <= this.#snapshot.metadata.index) throw new RaftStorageError('COMPACTED', 'snapshot is out of date')
    const staged = new StagedLog(index + 1, index)
    staged.add({ ...job.request, snapshot: undefined })
    const confState = staged.confState ?? snap.metadata.confState

    const ops: ExtraOperation[] = chunkDeletes(this.#layout, this.#chunks.from(index + 1))
    this.#snapshotOps(ops, snap)
    ops.push(sealedState(this.#layout, StateKey.logStart, encodeLogStart({ index, term })))
    const appended = staged.entries
    for (const [from, to] of splitChunks(appended, this.#options.chunk)) ops.push(chunkPut(this.#layout, appended, from, to))
    this.#stateOps(ops, confState, staged.hardState)
    ops.push(...staged.extraOps)

    this.#reader.invalidate()
    await this.#commit(ops)
    this.#reader.invalidate()
    this.#terms.reset(index, term)
    this.#chunks.clear()
    this.#tail.reset(index + 1)
    this.#reader.cache.clear()
    this.#snapshot = snap
    this.#confState = confState
    this.#appendToView(appended)
    if (staged.hardState !== undefined) this.#hardState = staged.hardState
    this.#stats.saves++
    job.done.resolve()
    // Leftovers: chunks wholly at or below the snapshot and the old snapshot's data. Until they are
    // gone they are ignored (below the log start; not the current snapshot's index).
    await this.#cleanup(() => this.#layout.log.clear({ lt: indexKey(index + 1) }))
    await this.#cleanup(() => this.#layout.snapshotData.clear({ lt: snapshotPieceKey(index, 0) }))
  }

  async #createSnapshot(index: number, confState: ConfState, data: Uint8Array): Promise<Snapshot> {
    if (index <= this.#snapshot.metadata.index) throw new RaftStorageError('COMPACTED', 'snapshot is out of date')
    if (index > this.#terms.lastIndex) {
      throw new RangeError(`snapshot ${index} is out of bound, last index ${this.#terms.lastIndex}`)
    }
    if (index < this.#terms.baseIndex) throw new RaftStorageError('COMPACTED', `index ${index} is compacted`)
    const snap: Snapshot = { metadata: { index, term: this.#terms.termAt(index), confState }, data }
    const ops: ExtraOperation[] = []
    this.#snapshotOps(ops, snap)
    await this.#commit(ops)
    this.#snapshot = snap
    await this.#cleanup(() => this.#layout.snapshotData.clear({ lt: snapshotPieceKey(index, 0) }))
    return snap
  }

  async #compact(compactIndex: number): Promise<void> {
    const base = this.#terms.baseIndex
    if (compactIndex <= base) throw new RaftStorageError('COMPACTED')
    if (compactIndex > this.#terms.lastIndex) {
      throw new RangeError(`compact ${compactIndex} is out of bound, last index ${this.#terms.lastIndex}`)
    }
    const term = this.#terms.termAt(compactIndex)
    // The new start goes first and alone: once it is durable, the chunks below it are garbage
    // (ignored and removed at the next open if the range delete does not happen).
    await this.#commit([sealedState(this.#layout, StateKey.logStart, encodeLogStart({ index: compactIndex, term }))])
    const keepFrom = this.#chunks.find(compactIndex + 1)?.first ?? compactIndex + 1
    this.#terms.rebase(compactIndex)
    this.#tail.dropBefore(compactIndex + 1)
    this.#reader.cache.dropBefore(compactIndex + 1)
    this.#chunks.dropBefore(compactIndex + 1)
    await this.#cleanup(() => this.#layout.log.clear({ lt: indexKey(keepFrom) }))
  }

  /** Runs a range delete of leftovers; failing one is not fatal, the next open removes them. */
  async #cleanup(clear: () => Promise<void>): Promise<void> {
    try {
      await clear()
    } catch {
      // Garbage is ignored at open (below the log start or not the current snapshot) and removed
      // then; the durable state is already correct.
    }
  }

  /** Operations that cut the stored log at `index`: delete later chunks, shorten the straddling one. */
  async #truncateOps(index: number): Promise<ExtraOperation[]> {
    const affected = this.#chunks.from(index)
    const ops = chunkDeletes(
      this.#layout,
      affected.filter((c) => c.first >= index),
    )
    const straddling = affected[0]
    if (straddling !== undefined && straddling.first < index) {
      const kept = (await this.#reader.read(straddling)).slice(0, index - straddling.first)
      ops.push(chunkPut(this.#layout, kept, 0, kept.length))
    }
    return ops
  }

  #stateOps(ops: ExtraOperation[], confState: ConfState | undefined, hardState: HardState | undefined): void {
    if (confState !== undefined) ops.push(sealedState(this.#layout, StateKey.confState, encodeConfState(confState)))
    if (hardState !== undefined) ops.push(sealedState(this.#layout, StateKey.hardState, encodeHardState(hardState)))
  }

  #snapshotOps(ops: ExtraOperation[], snap: Snapshot): void {
    const { index, term, confState } = snap.metadata
    const pieceBytes = this.#options.snapshotPieceBytes
    const pieces = Math.ceil(snap.data.length / pieceBytes)
    for (let p = 0; p < pieces; p++) {
      const key = snapshotPieceKey(index, p)
      const piece = snap.data.subarray(p * pieceBytes, Math.min(snap.data.length, (p + 1) * pieceBytes))
      ops.push({ type: 'put', sublevel: this.#layout.snapshotData, key, value: sealRecord(key, piece) })
    }
    const meta = encodeSnapshotMetadata({ index, term, confState, dataLength: snap.data.length, dataPieces: pieces })
    ops.push(sealedState(this.#layout, StateKey.snapshot, meta))
  }

  /** Forgets the indexes >= `index` in every in-memory structure. */
  #dropFrom(index: number): void {
    this.#chunks.truncateFrom(index)
    this.#terms.truncateFrom(index)
    this.#tail.truncateFrom(index)
    this.#reader.cache.invalidateFrom(index)
  }

  #appendToView(entries: readonly Entry[]): void {
    if (entries.length === 0) return
    for (const [from, to] of splitChunks(entries, this.#options.chunk)) {
      this.#chunks.push({ first: entries[from].index, last: entries[to - 1].index })
    }
    for (const e of entries) this.#terms.push(e.index, e.term)
    this.#tail.append(entries)
    this.#stats.entriesWritten += entries.length
  }
}
