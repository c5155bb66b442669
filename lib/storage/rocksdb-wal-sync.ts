/**
 * Durable writes for rocksdb-native, which has no `sync` write option: its writes reach the
 * operating system (the WAL is flushed on every write, so they survive the process being killed)
 * but not the disk. After a write that must be durable, the WAL file it went to is fsynced here,
 * which is what RocksDB's own `WriteOptions.sync` does.
 *
 * The WAL can rotate between the write and the fsync; RocksDB switches WAL only together with the
 * memtable, which bumps its super version number. A write whose super version did not change, and
 * matches the one under which the cached WAL was current, just fsyncs that WAL. Otherwise every WAL
 * from the write's floor (the newest WAL number known synced before it started) up to the current
 * one is synced, and so is the directory (a new WAL's name must be durable too). A WAL that is
 * already gone was flushed to a table file and synced by RocksDB first.
 *
 * @module
 */
import { open, readdir, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { RocksSession } from './rocksdb-binding.js'

const WAL_NAME = /^(\d+)\.log$/
/**
 * Bumped by RocksDB whenever it installs a new memtable (which comes with a new WAL) or finishes a
 * compaction. Read synchronously by rocksdb-native, so it can be read right before a write.
 */
const SUPER_VERSION = 'rocksdb.current-super-version-number'

/** What to read just before a write that will need {@link WalSync.sync}. */
export interface WalMark {
  /** WALs numbered below this held no write needing a sync when the mark was taken. */
  readonly floor: number
  /** The super version at the mark (a promise settled with the value read at the call). */
  readonly superVersion: Promise<unknown>
}

export class WalSync {
  readonly #location: string
  readonly #db: RocksSession
  // Every WAL numbered below #synced holds no write that still needs a sync. -1: none synced yet.
  #synced = -1
  // The WAL that was current while the super version was #file.superVersion, opened for fsync.
  #file: { number: number; superVersion: unknown; handle: FileHandle } | undefined
  #chain: Promise<void> = Promise.resolve()

  constructor(location: string, db: RocksSession) {
    this.#location = location
    this.#db = db
  }

  /** Call right before a write that must be made durable, and pass the result to {@link sync}. */
  mark(): WalMark {
    return { floor: this.#synced, superVersion: this.#db.getProperty(SUPER_VERSION) }
  }

  /** Makes durable every write that completed before this call and started after `mark`. */
  sync(mark: WalMark): Promise<void> {
    // One at a time: they share the cached file handle, and a later sync covers earlier writes.
    const run = this.#chain.then(() => this.#sync(mark))
    this.#chain = run.catch(() => {})
    return run
  }

  async #sync(mark: WalMark): Promise<void> {
    // Fast path: no memtable switch since the mark, nor since the cached WAL was current, so the
    // write went to the cached WAL. One fsync, no directory listing, no extra call into RocksDB.
    const before = await mark.superVersion
    const after = await this.#db.getProperty(SUPER_VERSION)
    if (this.#file !== undefined && before === after && this.#file.superVersion === after) {
      await this.#file.handle.datasync()
      return
    }
    const svBefore = await this.#db.getProperty(SUPER_VERSION)
    const current = await this.#db.currentWalFile()
    const svAfter = await this.#db.getProperty(SUPER_VERSION)
    for (const name of await readdir(this.#location)) {
      const match = WAL_NAME.exec(name)
      if (match === null) continue
      const n = Number(match[1])
      if (n >= mark.floor && n <= current.number) await syncPath(join(this.#location, name))
    }
    await syncPath(this.#location)
    this.#synced = Math.max(this.#synced, current.number)
    await this.#file?.handle.close()
    this.#file = undefined
    if (svBefore === svAfter) {
      // `current` was the WAL all along that super version: later writes may take the fast path.
      try {
        this.#file = { number: current.number, superVersion: svAfter, handle: await open(join(this.#location, current.path), 'r') }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      }
    }
  }

  /** Releases the cached file handle. */
  async close(): Promise<void> {
    await this.#chain
    await this.#file?.handle.close()
    this.#file = undefined
  }
}

async function syncPath(path: string): Promise<void> {
  let handle: FileHandle
  try {
    handle = await open(path, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
