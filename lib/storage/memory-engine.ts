import { MemoryLevel } from 'memory-level'
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
  const db = new MemoryLevel<string, string>()
  return LevelLogStore.open(db, { ...options, closeDb: true, location: '(memory)' })
}
