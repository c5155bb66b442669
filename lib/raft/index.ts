/**
 * The pure Raft core: no I/O, no timers, no clock, no global randomness. See docs/architecture.md
 * for the Ready loop a driver runs around it.
 *
 * @module
 */
export * from './types.js'
export type { RaftStorage, RaftStorageErrorCode } from './storage.js'
export { RaftStorageError } from './storage.js'
export { MemoryStorage } from './memory-storage.js'
export { RawNode } from './raw-node.js'
export type { Ready, RaftStatus, ProgressStatus } from './raw-node.js'
export type { RaftConfig, StepResult, CampaignType } from './raft.js'
export type { ReadOnlyOption } from './read-only.js'
export type { ProgressState } from './tracker/progress.js'
export type { RaftLogger } from './logger.js'
export { silentLogger } from './logger.js'
export type { Rng } from './rng.js'
export { SeededRng } from './rng.js'
export { encodeConfChange, decodeConfChange } from './conf-change-codec.js'
export { bootstrapLog } from './bootstrap.js'
