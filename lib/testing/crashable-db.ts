/**
 * Databases a test can crash: writes stop at the moment of the crash, and (in memory) only what
 * was synced survives.
 *
 * @module
 */
import type { AbstractSnapshot } from 'abstract-level'
import { MemoryLevel } from 'memory-level'
import type { LevelDatabase } from '../storage/level-database.js'

/** The private write hooks of an abstract-level database (implemented by every engine). */
interface WriteHooks {
  _put(key: unknown, value: unknown, options: { sync?: boolean }): Promise<void>
  _del(key: unknown, options: { sync?: boolean }): Promise<void>
  _batch(operations: ReadonlyArray<{ type: 'put' | 'del'; key: unknown; value?: unknown }>, options: { sync?: boolean }): Promise<void>
  _clear(options: Record<string, unknown>): Promise<void>
  _get(key: unknown, options: unknown): Promise<unknown>
  _getMany(keys: unknown[], options: unknown): Promise<unknown[]>
}

function crashedError(): Error {
  return Object.assign(new Error('the node crashed: its database takes no more writes'), { code: 'LEVEL_DATABASE_NOT_OPEN' })
}

/**
 * Counts the writes under way (handed to an engine and not finished), across databases, and the
 * point reads: a virtual clock waits for both, since LevelDB serves them on its thread pool in real
 * time (a read that takes real time must not look, in virtual time, like a node that stalled).
 */
export class WriteTracker {
  #inFlight = 0

  get inFlight(): number {
    return this.#inFlight
  }

  /** @internal */
  track<T>(write: Promise<T>): Promise<T> {
    this.#inFlight++
    const done = (): void => {
      this.#inFlight--
    }
    write.then(done, done)
    return write
  }
}

/**
 * Wraps the private write hooks of `db` (sublevels write through their root, so they are covered
 * too): once `crashed()` is true every write fails, so that nothing issued after the crash
 * reaches the database; `issued(sync)` runs right after the engine was handed a write.
 */
function interceptWrites(
  db: LevelDatabase,
  crashed: () => boolean,
  issued: (sync: boolean) => void = () => {},
  tracker?: WriteTracker,
): void {
  const hooks = db as unknown as WriteHooks
  const put = hooks._put.bind(db)
  const del = hooks._del.bind(db)
  const batch = hooks._batch.bind(db)
  const clear = hooks._clear.bind(db)
  const guard = <T>(sync: boolean, write: () => Promise<T>): Promise<T> => {
    if (crashed()) return Promise.reject(crashedError())
    const done = write()
    issued(sync)
    return tracker ? tracker.track(done) : done
  }
  hooks._put = (key, value, options) => guard(options?.sync === true, () => put(key, value, options))
  hooks._del = (key, options) => guard(options?.sync === true, () => del(key, options))
  hooks._batch = (operations, options) => guard(options?.sync === true, () => batch(operations, options))
  hooks._clear = (options) => guard(false, () => clear(options))
  if (tracker) {
    const get = hooks._get.bind(db)
    const getMany = hooks._getMany.bind(db)
    hooks._get = (key, options) => tracker.track(get(key, options))
    hooks._getMany = (keys, options) => tracker.track(getMany(keys, options))
  }
}

/** The content of a database as a crash or a stop left it: raw key and value pairs, in key order. */
export type DiskImage = ReadonlyArray<readonly [Buffer, Buffer]>

const RAW = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const

/**
 * A database in memory that models a disk with a write-back cache, as LevelDB's write-ahead log
 * behaves under power loss: writes are visible at once, but survive a {@link crash} only once a
 * write with `sync: true` has followed them (one synced write makes every earlier write durable:
 * the log is ordered). After the crash no write reaches the database; {@link crash} resolves
 * with what survived, from which {@link open} starts the next life.
 *
 * NB: memory-level applies a write synchronously when it is called and its trees are persistent,
 * so the durable state is an O(1) snapshot taken right after each synced write.
 */
export class CrashableMemoryDb {
  /** The live database, to open a store in. */
  readonly db: MemoryLevel<string, string>
  /** The state as of the last synced write: what a crash leaves. */
  #durable: AbstractSnapshot
  #crashed = false

  private constructor(db: MemoryLevel<string, string>, tracker: WriteTracker | undefined) {
    this.db = db
    this.#durable = db.snapshot()
    interceptWrites(
      db,
      () => this.#crashed,
      (sync) => {
        if (sync) this.#markDurable()
      },
      tracker,
    )
  }

  /**
   * A database that starts with `image` (what an earlier crash or stop left), or empty; its writes
   * are counted by `tracker`, if given.
   */
  static async open(image: DiskImage = [], tracker?: WriteTracker): Promise<CrashableMemoryDb> {
    const db = new MemoryLevel<string, string>({ storeEncoding: 'buffer' })
    await db.open()
    for (let i = 0; i < image.length; i += 4096) {
      await db.batch(
        image.slice(i, i + 4096).map(([key, value]) => ({ type: 'put' as const, key, value })),
        RAW,
      )
    }
    return new CrashableMemoryDb(db, tracker)
  }

  /** Whether {@link crash} was called. */
  get crashed(): boolean {
    return this.#crashed
  }

  /**
   * Crashes now: every later write fails, and what was not synced is lost. Resolves with what
   * survived (every write up to the last synced one issued before the crash), for {@link open}.
   */
  async crash(): Promise<DiskImage> {
    this.#crashed = true
    return this.#read(this.#durable)
  }

  /** Everything in the database now: what a clean shutdown leaves. */
  async image(): Promise<DiskImage> {
    return this.#read(undefined)
  }

  async #read(snapshot: AbstractSnapshot | undefined): Promise<DiskImage> {
    const out: Array<[Buffer, Buffer]> = []
    for await (const pair of this.db.iterator<Buffer, Buffer>({ ...RAW, ...(snapshot ? { snapshot } : {}) })) out.push(pair)
    return out
  }

  #markDurable(): void {
    const previous = this.#durable
    this.#durable = this.db.snapshot()
    void previous.close().catch(() => {})
  }
}

/**
 * Makes an on-disk database crashable: after `crash()`, every write fails, so that a node being
 * torn down cannot flush anything issued after the crash. What the engine accepted before it
 * stays (the model of a process killed with SIGKILL, whose writes the OS already holds).
 */
export function crashableDisk(db: LevelDatabase, tracker?: WriteTracker): { crash(): void; readonly crashed: boolean } {
  let crashed = false
  interceptWrites(db, () => crashed, undefined, tracker)
  return {
    crash() {
      crashed = true
    },
    get crashed() {
      return crashed
    },
  }
}
