/**
 * Helpers for tests: `createTestCluster()` runs a whole cluster of `createNode` members in the
 * test's process (partitions, crashes, restarts, membership changes, virtual time), and for the
 * core alone, a seeded random source, an in-memory log and the bootstrap log of a new cluster.
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
export { createTestCluster } from './testing/cluster.js'
export type { TestCluster, TestClusterOptions, TestNodeOptions, WaitOptions } from './testing/cluster.js'
export type { TestStorageKind } from './testing/node-disk.js'
export { VirtualClock } from './testing/virtual-clock.js'
export type { VirtualClockOptions } from './testing/virtual-clock.js'
export { CrashableMemoryDb } from './testing/crashable-db.js'
export type { DiskImage } from './testing/crashable-db.js'
