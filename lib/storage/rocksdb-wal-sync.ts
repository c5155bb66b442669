/**
 * Durable writes for rocksdb-native, which has no `sync` write option: its writes reach the
 * operating system (the WAL is flushed on every write, so they survive the process being killed)
 * but not the disk. After a write that must be durable, the WAL file it went to is fsynced here,
 * which is what RocksDB's own `WriteOptions.sync` does.
 *
 * The WAL can rotate between the write and the fsync. Each write records the newest WAL number
 * known before it started (its floor); if the current WAL is newer afterwards, every WAL from the
 * floor on that still exists is synced, and so is the directory (a new WAL's name must be durable
 * too). A WAL that is already gone was flushed to a table file and synced by RocksDB first.
 *
 * @module
 */
import { open, readdir, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { RocksSession } from './rocksdb-binding.js'

const WAL_NAME = /^(\d+)\.log$/

export class WalSync {
  readonly #location: string
  readonly #db: RocksSession
  // Every WAL numbered below #synced holds no write that still needs a sync. -1: none synced yet.
  #synced = -1
  #file: { number: number; handle: FileHandle } | undefined
  #chain: Promise<void> = Promise.resolve()

  constructor(location: string, db: RocksSession) {
    this.#location = location
    this.#db = db
  }

  /** The floor to pass to {@link sync} for a write about to start. */
  get floor(): number {
    return this.#synced
  }

  /** Makes durable every write that completed before this call and started at or after `floor`. */
  sync(floor: number): Promise<void> {
    // One at a time: they share the cached file handle, and a later sync covers earlier writes.
    const run = this.#chain.then(() => this.#sync(floor))
    this.#chain = run.catch(() => {})
    return run
  }

  async #sync(floor: number): Promise<void> {
    const current = await this.#db.currentWalFile()
    if (floor >= 0 && floor === current.number && (await this.#syncCurrent(current.number, current.path))) {
      return
    }
    for (const name of await readdir(this.#location)) {
      const match = WAL_NAME.exec(name)
      if (match === null) continue
      const n = Number(match[1])
      if (n >= floor && n <= current.number) await syncPath(join(this.#location, name))
    }
    await syncPath(this.#location)
    this.#synced = Math.max(this.#synced, current.number)
  }

  /** Fsyncs the current WAL through a cached handle; false if it is already gone. */
  async #syncCurrent(number: number, path: string): Promise<boolean> {
    if (this.#file?.number !== number) {
      await this.#file?.handle.close()
      this.#file = undefined
      try {
        this.#file = { number, handle: await open(join(this.#location, path), 'r') }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
        throw err
      }
    }
    await this.#file.handle.datasync()
    return true
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
