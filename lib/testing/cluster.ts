/**
 * `createTestCluster`: a whole metastore cluster inside one test process, with the faults a test
 * wants to inject (partitions, crashes, restarts, membership changes) and, optionally, simulated
 * time.
 *
 * @module
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { realTimeClock, type Clock } from '../clock.js'
import { MetastoreError, TimeoutError } from '../errors.js'
import { createNode, type CreateNodeOptions, type MetastoreNode } from '../node/create-node.js'
import type { Member } from '../node/membership.js'
import { SeededRng } from '../raft/rng.js'
import type { MessageType, NodeId } from '../raft/types.js'
import type { LevelLogStore } from '../storage/level-log-store.js'
import { InProcessNetwork, type InProcessNetworkOptions } from '../../transports/inprocess.js'
import { CountingTransport, type MessageCounts } from './counting-transport.js'
import { WriteTracker } from './crashable-db.js'
import { LevelNodeDisk, MemoryNodeDisk, type NodeDisk, type TestStorageKind } from './node-disk.js'
import { VirtualClock } from './virtual-clock.js'

/** What each node of a test cluster is started with (the cluster decides the rest). */
export type TestNodeOptions<V> = Partial<Omit<CreateNodeOptions<V>, 'id' | 'peers' | 'join' | 'storage' | 'transport' | 'clock' | 'rng'>>

/** Options of {@link createTestCluster}; every one has a default. */
export interface TestClusterOptions<V> {
  /** Voters the cluster starts with (ids 1..nodes). Default 3. */
  readonly nodes?: number
  /** `'memory'` (default) or `'leveldb'` (in a temporary directory, removed by `close()`). */
  readonly storage?: TestStorageKind
  /** Seeds the network's faults and every node's election timeouts. Default 1. */
  readonly seed?: number
  /**
   * `'real'` (default) or `'virtual'`: every node and the network run on one {@link VirtualClock}
   * that moves only when the test moves it (`advance`, `runUntil`, `drive`, and the waits below).
   */
  readonly clock?: 'real' | 'virtual'
  /** Network faults (drops, delays, duplication). Default: FIFO links with 0–1 ms delays. */
  readonly network?: Omit<InProcessNetworkOptions, 'clock'>
  /**
   * Tuning passed to every `createNode`. Defaults: on the real clock `tickMs` 10 (elections within
   * 100–200 ms) and `requestTimeoutMs` 2,000; on a virtual clock `tickMs` 100 and
   * `requestTimeoutMs` 5,000.
   */
  readonly node?: TestNodeOptions<V>
}

/** A bound on a wait, in ms (of virtual time on a virtual clock). */
export interface WaitOptions {
  /** Default 10,000. */
  readonly timeoutMs?: number
}

/** A metastore cluster in one process. Every wait drives the virtual clock when there is one. */
export interface TestCluster<V> {
  /** The running nodes, by id. Crashed, stopped and removed nodes are not in it. */
  readonly nodes: ReadonlyMap<NodeId, MetastoreNode<V>>
  /** The network between them: `configure()` its faults, `cut()` single links, read its `stats`. */
  readonly network: InProcessNetwork
  /** The clock every node runs on: a {@link VirtualClock} with `clock: 'virtual'`. */
  readonly clock: Clock
  /** The running node `id`; a TypeError if it is not running. */
  node(id: NodeId): MetastoreNode<V>
  /** The log store of the running node `id` (its snapshot, first and last index). */
  storage(id: NodeId): LevelLogStore
  /** The running node that is leader in the highest term, if any. */
  leader(): MetastoreNode<V> | undefined
  /** Waits until some running node is leader; resolves with it. */
  waitForLeader(options?: WaitOptions): Promise<MetastoreNode<V>>
  /** Waits until every running member has applied everything committed when the call was made. */
  waitForConvergence(options?: WaitOptions): Promise<void>
  /** Cuts every link between the groups. */
  partition(...groups: ReadonlyArray<readonly NodeId[]>): void
  /** Cuts one node off from all others. */
  isolate(id: NodeId): void
  /** Restores every link. */
  heal(): void
  /**
   * Crashes node `id`: at once it sends and receives nothing, and nothing it writes from then on
   * reaches its disk. With memory storage, writes not yet synced are lost too (power loss); with
   * LevelDB, what LevelDB accepted stays (a killed process). Its pending requests fail.
   */
  crash(id: NodeId): Promise<void>
  /** Stops node `id` cleanly (`close()`), keeping its disk for {@link restart}. */
  stop(id: NodeId): Promise<void>
  /** Starts a crashed or stopped node again from what its disk kept. */
  restart(id: NodeId): Promise<MetastoreNode<V>>
  /**
   * Starts a node with a new id and adds it through the leader: as a learner, then (unless
   * `asVoter` is false) promoted once it has caught up. Resolves once it has applied everything
   * committed when it was added.
   */
  addNode(options?: { readonly asVoter?: boolean } & WaitOptions): Promise<MetastoreNode<V>>
  /** Removes node `id` from the membership (through the leader), then stops it and deletes its disk. */
  removeNode(id: NodeId, options?: WaitOptions): Promise<Member[]>
  /** Counts the Raft messages nodes handed to the network (of one type, or all). */
  messagesSent(type?: MessageType): number
  /** Moves time: on a virtual clock, fires what falls due; on the real clock, waits `ms`. */
  advance(ms: number): Promise<void>
  /** Waits (moving a virtual clock in tick-sized steps) until `condition` holds; TIMEOUT after `timeoutMs`. */
  runUntil(condition: () => boolean | Promise<boolean>, options?: WaitOptions): Promise<void>
  /** Awaits `promise`, moving a virtual clock meanwhile; TIMEOUT if it takes over `timeoutMs`. */
  drive<T>(promise: Promise<T>, options?: WaitOptions): Promise<T>
  /** Closes every node and the network, and deletes temporary directories. */
  close(): Promise<void>
}

/** The state of one node id across its lives. */
interface Slot<V> {
  readonly id: NodeId
  readonly disk: NodeDisk
  /** Added after the start (its log starts empty: it must never bootstrap a cluster of its own). */
  readonly joined: boolean
  lives: number
  removed: boolean
  running?: { node: MetastoreNode<V>; store: LevelLogStore; transport: CountingTransport }
}

const DEFAULT_TIMEOUT_MS = 10_000

/** Codes after which a membership change may be sent again (each change is idempotent). */
const RETRYABLE = new Set(['NOT_LEADER', 'TIMEOUT', 'CLOSED', 'PROPOSAL_DROPPED', 'INVALID_CONF_CHANGE', 'REMOVED'])

/**
 * Starts a cluster of `nodes` voters in this process, on an in-process network, and resolves once
 * they are running (not once a leader is elected: see `waitForLeader`). Close it when done.
 *
 * @example
 * ```ts
 * import { createTestCluster } from 'metastore-kv/testing'
 *
 * const cluster = await createTestCluster<string>({ nodes: 3, seed: 7 })
 * try {
 *   const leader = await cluster.waitForLeader()
 *   await leader.kv.put('k', 'v')
 *   await cluster.crash(leader.id)
 *   const next = await cluster.waitForLeader()
 *   (await next.kv.get('k'))?.value // 'v'
 * } finally {
 *   await cluster.close()
 * }
 * ```
 */
export async function createTestCluster<V = unknown>(options: TestClusterOptions<V> = {}): Promise<TestCluster<V>> {
  const count = options.nodes ?? 3
  if (!Number.isSafeInteger(count) || count < 1) throw new TypeError('nodes must be a positive integer')
  const kind = options.storage ?? 'memory'
  if (kind !== 'memory' && kind !== 'leveldb') throw new TypeError(`storage must be 'memory' or 'leveldb', got ${String(kind)}`)
  const clockKind = options.clock ?? 'real'
  if (clockKind !== 'real' && clockKind !== 'virtual') throw new TypeError(`clock must be 'real' or 'virtual', got ${String(clockKind)}`)
  const seed = options.seed ?? 1
  if (!Number.isFinite(seed)) throw new TypeError('seed must be a number')

  // Writes under way hold virtual time back (a LevelDB fsync takes real time).
  const writes = new WriteTracker()
  const virtual = clockKind === 'virtual' ? new VirtualClock({ busy: () => writes.inFlight > 0 }) : undefined
  const clock: Clock = virtual ?? realTimeClock
  // Real time: short ticks, for quick elections. Virtual time: the production tick, since each
  // tick costs the test real work and a virtual second costs nothing.
  const defaults = virtual ? { tickMs: 100, requestTimeoutMs: 5000 } : { tickMs: 10, requestTimeoutMs: 2000 }
  const nodeOptions: TestNodeOptions<V> = { ...defaults, ...options.node }
  const tickMs = nodeOptions.tickMs ?? defaults.tickMs
  const network = new InProcessNetwork({ maxDelayMs: 1, fifo: true, seed, ...options.network, clock })
  const counts: MessageCounts = new Map()
  const tempDir = kind === 'leveldb' ? await mkdtemp(join(tmpdir(), 'metastore-cluster-')) : undefined
  const initial = Array.from({ length: count }, (_, i) => i + 1)
  const slots = new Map<NodeId, Slot<V>>()
  const running = new Map<NodeId, MetastoreNode<V>>()
  let nextId = count + 1
  let closed = false

  const newSlot = (id: NodeId, joined: boolean): Slot<V> => {
    const disk = tempDir ? new LevelNodeDisk(join(tempDir, `node-${id}`), writes) : new MemoryNodeDisk(`(memory node ${id})`, writes)
    const slot: Slot<V> = { id, disk, joined, lives: 0, removed: false }
    slots.set(id, slot)
    return slot
  }

  const slotOf = (id: NodeId): Slot<V> => {
    const slot = slots.get(id)
    if (!slot) throw new TypeError(`no node ${id} in this cluster`)
    return slot
  }

  const runningSlot = (id: NodeId): Slot<V> & { running: NonNullable<Slot<V>['running']> } => {
    const slot = slotOf(id)
    if (!slot.running) throw new TypeError(`node ${id} is not running`)
    return slot as Slot<V> & { running: NonNullable<Slot<V>['running']> }
  }

  const start = async (slot: Slot<V>, peers: readonly NodeId[]): Promise<MetastoreNode<V>> => {
    if (closed) throw new TypeError('the cluster is closed')
    if (slot.running) throw new TypeError(`node ${slot.id} is already running`)
    if (slot.removed) throw new TypeError(`node ${slot.id} was removed`)
    slot.lives++
    const store = await slot.disk.open()
    const transport = new CountingTransport(network.transport(), counts)
    let node: MetastoreNode<V>
    try {
      node = await createNode<V>({
        ...nodeOptions,
        id: slot.id,
        peers,
        join: slot.joined,
        storage: store,
        transport,
        clock,
        // Each life draws its own election timeouts, all derived from the seed.
        rng: new SeededRng(seed * 0x10000 + slot.id * 0x100 + slot.lives),
      })
    } catch (err) {
      await store.close().catch(() => {})
      await transport.close()
      await slot.disk.afterClose()
      throw err
    }
    slot.running = { node, store, transport }
    running.set(slot.id, node)
    return node
  }

  /**
   * Tears a running node down. `crash` first cuts it off and stops its disk at this moment; `stop`
   * keeps its disk for a restart; `discard` keeps nothing (the disk is about to be destroyed).
   */
  const takeDown = async (id: NodeId, how: 'crash' | 'stop' | 'discard'): Promise<void> => {
    const slot = slotOf(id)
    if (!slot.running) throw new TypeError(`node ${id} is not running`)
    const { node, transport } = slot.running
    if (how === 'crash') {
      slot.disk.crash()
      await transport.close()
    }
    slot.running = undefined
    running.delete(id)
    // A crashed node's teardown fails to write; what it leaves behind is only what it was doing.
    await node.close().catch(() => {})
    if (how === 'discard') await slot.disk.destroy()
    else await slot.disk.afterClose()
  }

  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

  const runUntil = async (condition: () => boolean | Promise<boolean>, o: WaitOptions = {}): Promise<void> => {
    const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS
    if (virtual) return virtual.runUntil(condition, timeoutMs, tickMs)
    const deadline = Date.now() + timeoutMs
    while (!(await condition())) {
      if (Date.now() >= deadline) throw new TimeoutError(`condition not met within ${timeoutMs} ms`)
      await sleep(Math.min(5, tickMs))
    }
  }

  const drive = async <T>(promise: Promise<T>, o: WaitOptions = {}): Promise<T> => {
    const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS
    if (virtual) return virtual.drive(promise, timeoutMs, tickMs)
    let cancel: (() => void) | undefined
    const timeout = new Promise<never>((_, reject) => {
      const t = setTimeout(() => reject(new TimeoutError(`not settled within ${timeoutMs} ms`)), timeoutMs)
      cancel = () => clearTimeout(t)
    })
    try {
      return await Promise.race([promise, timeout])
    } finally {
      cancel?.()
    }
  }

  const leader = (): MetastoreNode<V> | undefined => {
    let best: MetastoreNode<V> | undefined
    let bestTerm = -1
    for (const node of running.values()) {
      const s = node.status()
      if (s.role === 'leader' && !s.removed && s.term > bestTerm) {
        best = node
        bestTerm = s.term
      }
    }
    return best
  }

  const waitForLeader = async (o: WaitOptions = {}): Promise<MetastoreNode<V>> => {
    await runUntil(() => leader() !== undefined, o)
    return leader()!
  }

  /** Runs a membership change on the leader, again on a new leader if it fails retryably. */
  const onLeader = async (change: (leader: MetastoreNode<V>) => Promise<Member[]>, timeoutMs: number): Promise<Member[]> => {
    const deadline = clock.now() + timeoutMs
    for (;;) {
      const left = Math.max(1, deadline - clock.now())
      const l = await waitForLeader({ timeoutMs: left })
      try {
        return await drive(change(l), { timeoutMs: Math.max(1, deadline - clock.now()) })
      } catch (err) {
        const retry = err instanceof MetastoreError && RETRYABLE.has(err.code)
        if (!retry || clock.now() >= deadline) throw err
        await advance(tickMs)
      }
    }
  }

  const advance = async (ms: number): Promise<void> => {
    if (!Number.isFinite(ms) || ms < 0) throw new TypeError('advance() takes a finite number of ms >= 0')
    if (virtual) await virtual.advance(ms)
    else await sleep(ms)
  }

  /** Waits until node `id` has applied what the leader had committed. */
  const catchUp = async (node: MetastoreNode<V>, timeoutMs: number): Promise<void> => {
    const l = await waitForLeader({ timeoutMs })
    const target = l.status().commitIndex
    await runUntil(() => node.status().appliedIndex >= target, { timeoutMs })
  }

  for (const id of initial) newSlot(id, false)
  try {
    for (const id of initial) await start(slotOf(id), initial)
  } catch (err) {
    for (const id of [...running.keys()]) await takeDown(id, 'discard')
    network.close()
    if (tempDir) await rm(tempDir, { recursive: true, force: true })
    throw err
  }

  const cluster: TestCluster<V> = {
    nodes: running,
    network,
    clock,
    node: (id) => runningSlot(id).running.node,
    storage: (id) => runningSlot(id).running.store,
    leader,
    waitForLeader,
    async waitForConvergence(o = {}) {
      const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS
      let target = 0
      for (const n of running.values()) target = Math.max(target, n.status().commitIndex)
      await runUntil(() => {
        for (const n of running.values()) {
          const s = n.status()
          if (!s.removed && s.appliedIndex < target) return false
        }
        return true
      }, { timeoutMs })
    },
    partition: (...groups) => network.partition(...groups),
    isolate: (id) => network.isolate(id),
    heal: () => network.heal(),
    crash: (id) => takeDown(id, 'crash'),
    stop: (id) => takeDown(id, 'stop'),
    async restart(id) {
      const slot = slotOf(id)
      return start(slot, slot.joined ? memberIds() : initial)
    },
    async addNode(o = {}) {
      const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS
      const slot = newSlot(nextId++, true)
      const node = await start(slot, memberIds())
      try {
        await onLeader((l) => l.addLearner(slot.id), timeoutMs)
        await catchUp(node, timeoutMs)
        if (o.asVoter !== false) {
          await onLeader((l) => l.promote(slot.id), timeoutMs)
          await catchUp(node, timeoutMs)
        }
      } catch (err) {
        await takeDown(slot.id, 'discard').catch(() => {})
        throw err
      }
      return node
    },
    async removeNode(id, o = {}) {
      const slot = slotOf(id)
      if (slot.removed) throw new TypeError(`node ${id} was already removed`)
      const members = await onLeader((l) => l.remove(id), o.timeoutMs ?? DEFAULT_TIMEOUT_MS)
      slot.removed = true
      if (slot.running) await takeDown(id, 'discard')
      else await slot.disk.destroy()
      return members
    },
    messagesSent(type) {
      if (type !== undefined) return counts.get(type) ?? 0
      let total = 0
      for (const n of counts.values()) total += n
      return total
    },
    advance,
    runUntil,
    drive,
    async close() {
      if (closed) return
      closed = true
      for (const id of [...running.keys()]) await takeDown(id, 'discard')
      network.close()
      for (const slot of slots.values()) await slot.disk.destroy()
      if (tempDir) await rm(tempDir, { recursive: true, force: true })
    },
  }

  /** The ids of the members as the leader (or any running node) knows them, else the initial voters. */
  function memberIds(): NodeId[] {
    const source = leader() ?? running.values().next().value
    return source ? source.members().map((m) => m.id) : initial
  }

  return cluster
}
