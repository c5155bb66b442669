/**
 * Databases a test can crash: writes stop at the moment of the crash, and (in memory) only what
 * was synced survives.
 *
 * @module
 */
import { MemoryLevel } from 'memory-level'
import type { LevelDatabase } from '../storage/level-database.js'

/** The private write hooks of an abstract-level database (implemented by every engine). */
interface WriteHooks {
  _put(key: unknown, value: unknown, options: { sync?: boolean }): Promise<void>
  _del(key: unknown, options: { sync?: boolean }): Promise<void>
  _batch(operations: ReadonlyArray<{ type: 'put' | 'del'; key: unknown; value?: unknown }>, options: { sync?: boolean }): Promise<void>
  _clear(options: Record<string, unknown>): Promise<void>
}

/** A write as the engine received it (keys and values already encoded). */
type Write =
  | { readonly kind: 'batch'; readonly operations: ReadonlyArray<{ type: 'put' | 'del'; key: unknown; value?: unknown }> }
  | { readonly kind: 'clear'; readonly range: Record<string, unknown> }

const RANGE_OPTIONS = ['gt', 'gte', 'lt', 'lte', 'limit', 'reverse'] as const

function crashedError(): Error {
  return Object.assign(new Error('the node crashed: its database takes no more writes'), { code: 'LEVEL_DATABASE_NOT_OPEN' })
}

/**
 * Wraps the private write hooks of `db` (sublevels write through their root, so they are covered
 * too): `observe` sees each write before it is applied, and once `crashed()` is true every write
 * fails, so that nothing issued after the crash reaches the database.
 */
function interceptWrites(db: LevelDatabase, crashed: () => boolean, observe: (write: Write, sync: boolean) => void): void {
  const hooks = db as unknown as WriteHooks
  const put = hooks._put.bind(db)
  const del = hooks._del.bind(db)
  const batch = hooks._batch.bind(db)
  const clear = hooks._clear.bind(db)
  hooks._put = async (key, value, options) => {
    if (crashed()) throw crashedError()
    observe({ kind: 'batch', operations: [{ type: 'put', key, value }] }, options?.sync === true)
    return put(key, value, options)
  }
  hooks._del = async (key, options) => {
    if (crashed()) throw crashedError()
    observe({ kind: 'batch', operations: [{ type: 'del', key }] }, options?.sync === true)
    return del(key, options)
  }
  hooks._batch = async (operations, options) => {
    if (crashed()) throw crashedError()
    observe({ kind: 'batch', operations: operations.map((o) => ({ type: o.type, key: o.key, value: o.value })) }, options?.sync === true)
    return batch(operations, options)
  }
  hooks._clear = async (options) => {
    if (crashed()) throw crashedError()
    const range: Record<string, unknown> = {}
    for (const name of RANGE_OPTIONS) if (options[name] !== undefined) range[name] = options[name]
    observe({ kind: 'clear', range }, false)
    return clear(options)
  }
}

/**
 * A database in memory that models a disk with a write-back cache, as LevelDB's write-ahead log
 * behaves under power loss: writes are visible at once, but survive a {@link crash} only once a
 * write with `sync: true` has followed them (one synced write makes every earlier write durable:
 * the log is ordered). After the crash no write reaches the database; {@link crash} resolves
 * with what survived, from which {@link open} starts the next life.
 */
export class CrashableMemoryDb {
  /** The live database, to open a store in. */
  readonly db: MemoryLevel<string, string>
  /** What has been synced: the disk as a crash would leave it. */
  readonly #disk: MemoryLevel<string, string>
  #unsynced: Write[] = []
  /** Synced writes being copied to `#disk`, in order. */
  #flushing: Promise<void> = Promise.resolve()
  #crashed = false

  private constructor(db: MemoryLevel<string, string>, disk: MemoryLevel<string, string>) {
    this.db = db
    this.#disk = disk
    interceptWrites(
      db,
      () => this.#crashed,
      (write, sync) => this.#record(write, sync),
    )
  }

  /** A database that starts with the content of `image` (what an earlier crash left), or empty. */
  static async open(image?: MemoryLevel<string, string>): Promise<CrashableMemoryDb> {
    const db = new MemoryLevel<string, string>({ storeEncoding: 'buffer' })
    const disk = new MemoryLevel<string, string>({ storeEncoding: 'buffer' })
    await db.open()
    await disk.open()
    if (image) {
      const raw = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const
      let ops: Array<{ type: 'put'; key: Buffer; value: Buffer }> = []
      const flush = async (): Promise<void> => {
        await db.batch(ops, raw)
        await disk.batch(ops, raw)
        ops = []
      }
      for await (const [key, value] of image.iterator(raw)) {
        ops.push({ type: 'put', key, value })
        if (ops.length >= 4096) await flush()
      }
      await flush()
    }
    return new CrashableMemoryDb(db, disk)
  }

  /** Whether {@link crash} was called. */
  get crashed(): boolean {
    return this.#crashed
  }

  /**
   * Crashes now: every later write fails, and what was not synced is lost. Resolves with the disk
   * image (synced writes issued before the crash, in order), for {@link open}.
   */
  async crash(): Promise<MemoryLevel<string, string>> {
    this.#crashed = true
    this.#unsynced = []
    await this.#flushing
    return this.#disk
  }

  #record(write: Write, sync: boolean): void {
    this.#unsynced.push(write)
    if (!sync) return
    const writes = this.#unsynced
    this.#unsynced = []
    this.#flushing = this.#flushing.then(() => this.#copyToDisk(writes))
  }

  async #copyToDisk(writes: readonly Write[]): Promise<void> {
    const raw = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const
    for (const w of writes) {
      if (w.kind === 'clear') await this.#disk.clear({ ...w.range, keyEncoding: 'buffer' })
      else await this.#disk.batch(w.operations as Array<{ type: 'put'; key: Buffer; value: Buffer }>, raw)
    }
  }
}

/**
 * Makes an on-disk database crashable: after `crash()`, every write fails, so that a node being
 * torn down cannot flush anything issued after the crash. What the engine accepted before it
 * stays (the model of a process killed with SIGKILL, whose writes the OS already holds).
 */
export function crashableDisk(db: LevelDatabase): { crash(): void; readonly crashed: boolean } {
  let crashed = false
  interceptWrites(
    db,
    () => crashed,
    () => {},
  )
  return {
    crash() {
      crashed = true
    },
    get crashed() {
      return crashed
    },
  }
}
