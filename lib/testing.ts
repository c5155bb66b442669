/**
 * Helpers for tests that run Raft nodes in one process, deterministically: a seeded random
 * source to inject into the core, an in-memory log, and the bootstrap log of a new cluster.
 *
 * @example
 * ```ts
 * import { MemoryStorage, SeededRng, bootstrapLog } from 'metastore-kv/testing'
 * import { RawNode } from 'metastore-kv'
 *
 * const storage = new MemoryStorage()
 * const boot = bootstrapLog([1])
 * storage.append(boot.entries)
 * storage.setHardState(boot.hardState)
 * const node = new RawNode({ id: 1, storage, rng: new SeededRng(42) })
 * ```
 *
 * @module
 */
export { MemoryStorage } from './raft/memory-storage.js'
export { SeededRng } from './raft/rng.js'
export { bootstrapLog } from './raft/bootstrap.js'
export { checkLinearizable, kvModel } from './testing/linearizability.js'
export type { Operation, Model, CheckResult, KvInput, KvOutput } from './testing/linearizability.js'
export { InProcessNetwork, realTimeClock } from '../transports/inprocess.js'
export type { InProcessNetworkOptions, NetworkClock, NetworkStats } from '../transports/inprocess.js'
