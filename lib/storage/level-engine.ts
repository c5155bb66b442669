import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Level } from 'level'
import type { EngineOptions } from './memory-engine.js'
import { mapOpenError } from './engine-errors.js'
import { allowNativeBatch, allowRawBatch } from './level-database.js'
import { LevelLogStore } from './level-log-store.js'

/**
 * A store in a LevelDB directory (classic-level, through `level`). The store owns the database and
 * closes it. A directory open in another process (or twice in this one) fails with `LOCKED`;
 * damage LevelDB itself detects fails with `CORRUPT_LOG`.
 *
 * @example
 * ```ts
 * const store = await levelStorage('./data/node-1')
 * ```
 */
export async function levelStorage(path: string, options: EngineOptions = {}): Promise<LevelLogStore> {
  if (typeof path !== 'string' || path === '') throw new TypeError('levelStorage needs a directory path')
  const db = new Level<string, string>(path)
  const existing = existsSync(join(path, 'CURRENT'))
  try {
    await db.open()
  } catch (err) {
    throw mapOpenError(err, path, existing)
  }
  allowRawBatch(db)
  allowNativeBatch(db)
  return LevelLogStore.open(db, { ...options, closeDb: true, location: path })
}
