/**
 * Durable storage for the Raft log on abstract-level databases.
 *
 * @module
 */
export * from './level-log-store.js'
export * from './memory-engine.js'
export * from './level-engine.js'
export * from './rocksdb-engine.js'
export { RocksLevel, RocksSnapshot, type RocksLevelOptions } from './rocksdb-level.js'
export { loadRocksBinding } from './rocksdb-binding.js'
export type { LevelDatabase, ExtraOperation } from './level-database.js'

export { suite as storageConformanceSuite, readAll, nextLoad } from './conformance.js'
export type { ConformanceAssert, ConformanceOptions, ConformanceTarget } from './conformance.js'
