import { MemoryLevel } from 'memory-level'
import { allowRawBatch } from './level-database.js'
import { LevelLogStore, type LevelLogStoreOptions } from './level-log-store.js'

/** Options of the built-in engines: those of the store, less the ones the engine decides. */
export type EngineOptions = Omit<LevelLogStoreOptions, 'closeDb' | 'location'>

/**
 * A store in memory (memory-level): nothing survives the process. For tests and the simulator; the
 * store owns the database and closes it.
 *
 * @example
 * ```ts
 * const store = await memoryStorage()
 * ```
 */
export async function memoryStorage(options: EngineOptions = {}): Promise<LevelLogStore> {
  // Bytes as they are (`view`): the store writes byte keys and values, and batches then go to
  // memory-level's `_batch` directly (see writeBatch), as they go to classic-level's.
  const db = new MemoryLevel<string, string>({ storeEncoding: 'view' })
  allowRawBatch(db)
  return LevelLogStore.open(db, { ...options, closeDb: true, location: '(memory)' })
}
