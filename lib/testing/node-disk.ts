/**
 * The storage of one node of a test cluster across its lives: opened, crashed or stopped, and
 * reopened from what survived.
 *
 * @module
 */
import { rm } from 'node:fs/promises'
import { Level } from 'level'
import { LevelLogStore } from '../storage/level-log-store.js'
import { mapOpenError } from '../storage/engine-errors.js'
import { CrashableMemoryDb, crashableDisk, type DiskImage, type WriteTracker } from './crashable-db.js'

/** The storage kinds a test cluster runs on. */
export type TestStorageKind = 'memory' | 'leveldb'

/**
 * One node's disk. The cluster calls {@link open} to start a life, {@link crash} at the moment a
 * node crashes (nothing written after it survives), then {@link afterClose} once the node's
 * remains are torn down, and {@link destroy} when the disk is thrown away.
 */
export interface NodeDisk {
  open(): Promise<LevelLogStore>
  crash(): void
  afterClose(): Promise<void>
  destroy(): Promise<void>
}

/**
 * A disk in memory that survives a crash with its synced writes only (see
 * {@link CrashableMemoryDb}), and a clean stop with everything.
 */
export class MemoryNodeDisk implements NodeDisk {
  readonly #name: string
  readonly #tracker: WriteTracker | undefined
  #live: CrashableMemoryDb | undefined
  /** What the last life left, for the next one to start from. */
  #image: DiskImage = []
  #crashImage: Promise<DiskImage> | undefined

  constructor(name: string, tracker?: WriteTracker) {
    this.#name = name
    this.#tracker = tracker
  }

  async open(): Promise<LevelLogStore> {
    if (this.#live) throw new Error(`${this.#name} is already open`)
    this.#live = await CrashableMemoryDb.open(this.#image, this.#tracker)
    this.#image = []
    // The database outlives the store, so that a clean stop can read all of it.
    return LevelLogStore.open(this.#live.db, { closeDb: false, location: this.#name })
  }

  crash(): void {
    this.#crashImage ??= this.#live?.crash()
  }

  async afterClose(): Promise<void> {
    const live = this.#live
    if (!live) return
    this.#live = undefined
    const crashImage = this.#crashImage
    this.#crashImage = undefined
    this.#image = crashImage ? await crashImage : await live.image()
    await live.db.close()
  }

  async destroy(): Promise<void> {
    const live = this.#live
    this.#live = undefined
    this.#crashImage = undefined
    this.#image = []
    // Nothing is read back: closing is enough (no write reaches a closed database).
    if (live) await live.db.close()
  }
}

/**
 * A LevelDB directory. A crash stops every write at its moment; what LevelDB accepted before it
 * stays, as after a process killed with SIGKILL (the operating system holds those writes).
 */
export class LevelNodeDisk implements NodeDisk {
  readonly path: string
  readonly #tracker: WriteTracker | undefined
  #db: Level<string, string> | undefined
  #guard: { crash(): void } | undefined

  constructor(path: string, tracker?: WriteTracker) {
    this.path = path
    this.#tracker = tracker
  }

  async open(): Promise<LevelLogStore> {
    if (this.#db) throw new Error(`${this.path} is already open`)
    const db = new Level<string, string>(this.path)
    try {
      await db.open()
    } catch (err) {
      throw mapOpenError(err, this.path)
    }
    this.#db = db
    this.#guard = crashableDisk(db, this.#tracker)
    return LevelLogStore.open(db, { closeDb: true, location: this.path })
  }

  crash(): void {
    this.#guard?.crash()
  }

  async afterClose(): Promise<void> {
    const db = this.#db
    this.#db = undefined
    this.#guard = undefined
    // The node closes its store, and the store the database; make sure of it after a crash.
    if (db && db.status !== 'closed') await db.close().catch(() => {})
  }

  async destroy(): Promise<void> {
    this.crash()
    await this.afterClose()
    await rm(this.path, { recursive: true, force: true })
  }
}
