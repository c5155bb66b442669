import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { mapOpenError } from './engine-errors.js'
import { LevelLogStore } from './level-log-store.js'
import type { EngineOptions } from './memory-engine.js'
import { loadRocksBinding } from './rocksdb-binding.js'
import { RocksLevel } from './rocksdb-level.js'

/**
 * A store in a RocksDB directory, through the optional `rocksdb-native` binding. The store owns the
 * database and closes it. Without the binding installed this fails with `STORAGE_UNAVAILABLE`; a
 * directory open in another process fails with `LOCKED`.
 *
 * @example
 * ```ts
 * const store = await rocksdbStorage('./data/node-1')
 * ```
 */
export async function rocksdbStorage(path: string, options: EngineOptions = {}): Promise<LevelLogStore> {
  if (typeof path !== 'string' || path === '') throw new TypeError('rocksdbStorage needs a directory path')
  // Fail with the clear error before abstract-level wraps it into "Database failed to open".
  loadRocksBinding()
  const db = new RocksLevel(path)
  const existing = existsSync(join(path, 'CURRENT'))
  try {
    await db.open()
  } catch (err) {
    throw mapOpenError(err, path, existing)
  }
  return LevelLogStore.open(db, { ...options, closeDb: true, location: path })
}
