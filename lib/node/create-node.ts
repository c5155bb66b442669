import { randomBytes } from 'node:crypto'
import { pack, unpack } from 'msgpackr'
import { TooLargeError } from '../errors.js'
import { encodeEnvelope } from '../kv/codec.js'
import type { Command, Compare, CompareResult, RangeCommand, SortOrder, SortTarget, TxnOp } from '../kv/commands.js'
import { LeaseNotFoundError, toError } from '../kv/errors.js'
import { pooledCopy, utf8Bytes } from '../kv/bytes.js'
import { prefixEnd } from '../kv/key-range.js'
import { MvccStore } from '../kv/mvcc-store.js'
import { nextTurnIfBusy } from '../kv/record-cache.js'
import type { CommandResult, KeyValue as RawKeyValue, RangeResult, TxnOpResult } from '../kv/results.js'
import type { RaftLogger } from '../raft/logger.js'
import type { RaftStatus } from '../raft/raw-node.js'
import type { ConfState, NodeId } from '../raft/types.js'
import type { LevelLogStore } from '../storage/level-log-store.js'
import type { Transport } from '../../transports/transport.js'
import { KvStateMachine } from './kv-state-machine.js'
import { RaftNode, type PeerSpec, type RaftTuning } from './raft-node.js'
import { membersOf, type Member } from './membership.js'
import type { Clock } from '../clock.js'
import type { Metrics } from '../metrics.js'
import type { Rng } from '../raft/rng.js'
import { WatchHub } from './watch-hub.js'
import { Lessor } from './lessor.js'

/** Encodes values of type V to bytes and back. The default is msgpackr (structured-clonable values). */
export interface ValueCodec<V> {
  encode(value: V): Uint8Array
  decode(bytes: Uint8Array): V
}

const msgpackCodec: ValueCodec<unknown> = {
  encode: (v) => pack(v),
  decode: (b) => unpack(b),
}

export interface CreateNodeOptions<V> {
  readonly id: NodeId
  /**
   * The initial voters of a new cluster (this node included): ids, or `{ id, address }` with the
   * address the transport reaches each at (replicated with the membership from then on). With
   * `join`, or on a restart, only the addresses are used: to reach the members.
   */
  readonly peers?: readonly PeerSpec[]
  /** Start empty and wait to be added by the cluster (`addLearner` / `addVoter` on a member). */
  readonly join?: boolean
  /** Where the Raft log lives; the KV state lives in the same database. `close()` closes it. */
  readonly storage: LevelLogStore
  readonly transport: Transport
  readonly codec?: ValueCodec<V>
  /** Milliseconds per Raft tick. Default 100. */
  readonly tickMs?: number
  /** Ticks without a leader before an election. Default 10. */
  readonly electionTick?: number
  /** Ticks between leader heartbeats. Default 1. */
  readonly heartbeatTick?: number
  /** Take a snapshot every this many applied entries. Default 10,000. */
  readonly snapshotEvery?: number
  /**
   * Bytes of current records kept in memory for point reads and the read-modify-write of puts
   * (see docs/kv.md, "The record cache"). Default 32 MiB; 0 turns the cache off.
   */
  readonly cacheBytes?: number
  /** Entries kept behind a snapshot for followers that lag a little. Default 5,000. */
  readonly compactKeep?: number
  /** How often the leader checkpoints leases' remaining TTLs through the log. Default 5,000 ms. */
  readonly leaseCheckpointMs?: number
  /** How long a request may wait before failing with TIMEOUT (outcome unknown). Default 10 s. */
  readonly requestTimeoutMs?: number
  /** Default 1.5 KiB, as etcd's. */
  readonly maxKeyBytes?: number
  /** Default 1.5 MiB, as etcd's request limit. */
  readonly maxValueBytes?: number
  readonly raft?: RaftTuning
  readonly logger?: RaftLogger
  /** Where the node records its metrics (render with `metrics.render()`). Default: its own registry. */
  readonly metrics?: Metrics
  /** Where every timer of the node runs (ticks, request timeouts, lease expiry). Default: real time. */
  readonly clock?: Clock
  /** The random source of election timeouts (a seeded one makes a test cluster replay). */
  readonly rng?: Rng
}

/** What {@link MetastoreNode.status} reports. */
export interface NodeStatus {
  readonly id: NodeId
  readonly role: RaftStatus['role']
  readonly term: number
  /** The leader this node knows of, 0 if none. */
  readonly leader: NodeId
  readonly commitIndex: number
  readonly appliedIndex: number
  readonly lastIndex: number
  /** The KV store's current and compacted revisions. */
  readonly revision: number
  readonly compactRevision: number
  readonly members: Member[]
  readonly config: ConfState
  /** Only on the leader: each member's replication progress. */
  readonly progress?: Readonly<Record<number, { readonly match: number; readonly next: number; readonly state: string; readonly recentActive: boolean }>>
  /** This node has been removed from the cluster. */
  readonly removed: boolean
}

/** Options of a membership change. */
export interface MemberChangeOptions {
  /** Where peers reach the member (replicated to every node). */
  readonly address?: string
  readonly signal?: AbortSignal
}

/** A key with its value and MVCC metadata (etcd's `KeyValue`). */
export interface KeyValue<V> {
  readonly key: string
  readonly value: V
  readonly createRevision: number
  readonly modRevision: number
  readonly version: number
  readonly lease: number
}

export interface ReadOptions {
  /** Read at this past revision (not yet compacted). Default: the latest. */
  readonly revision?: number
  /** Read this node's state without confirming it is current (may be stale). Default false. */
  readonly serializable?: boolean
  readonly signal?: AbortSignal
}

export interface RangeOptions extends ReadOptions {
  /** Every key starting with this prefix. */
  readonly prefix?: string
  /** Keys in [start, end); `end` undefined means only `start`, `'\0'` means every key >= start. */
  readonly start?: string
  readonly end?: string
  readonly limit?: number
  readonly keysOnly?: boolean
  readonly countOnly?: boolean
  readonly sort?: { readonly target?: SortTarget; readonly order?: SortOrder }
}

export interface RangeResponse<V> {
  readonly kvs: KeyValue<V>[]
  readonly count: number
  readonly more: boolean
  readonly revision: number
}

export interface PutOptions {
  readonly lease?: number
  readonly prevKv?: boolean
  readonly signal?: AbortSignal
}

export interface WatchOptions {
  /** Start at this revision (replaying history not yet compacted). Default: the next revision. */
  readonly fromRevision?: number
  /** Include each key's previous value. */
  readonly prevKv?: boolean
  /** Revisions queued for a slow consumer before the watch fails with WATCH_OVERFLOW. Default 1024. */
  readonly maxQueued?: number
  /**
   * After this many idle milliseconds, yield an empty batch at the revision the watcher is
   * current to (a progress notification: no event up to it is missing). Default 0: never.
   */
  readonly progressNotifyMs?: number
}

/**
 * All events of one revision (delivered together, in revision order, each once). A batch with no
 * events is a progress notification (see {@link WatchOptions.progressNotifyMs}).
 */
export interface WatchBatch<V> {
  readonly revision: number
  readonly events: ReadonlyArray<{ readonly type: 'put' | 'delete'; readonly kv: KeyValue<V>; readonly prevKv?: KeyValue<V> }>
}

export type KeySelector = string | { readonly prefix: string } | { readonly start: string; readonly end?: string }

export interface TxnCompare<V> {
  readonly key: KeySelector
  readonly target: 'value' | 'version' | 'createRevision' | 'modRevision' | 'lease'
  readonly op: CompareResult
  /** A value of type V for `value`, else a number. */
  readonly value: V | number
}

export type TxnRequestOp<V> =
  | { readonly put: { readonly key: string; readonly value: V; readonly lease?: number; readonly prevKv?: boolean } }
  | { readonly delete: { readonly key: KeySelector; readonly prevKv?: boolean } }
  | { readonly get: { readonly key: KeySelector; readonly limit?: number; readonly keysOnly?: boolean; readonly countOnly?: boolean } }

export type TxnResponseOp<V> =
  | { readonly put: { readonly revision: number; readonly prevKv?: KeyValue<V> } }
  | { readonly delete: { readonly revision: number; readonly deleted: number; readonly prevKvs?: KeyValue<V>[] } }
  | { readonly get: RangeResponse<V> }

/** The typed key-value API of a node (etcd v3 semantics). Reads are linearizable by default. */
export interface Kv<V> {
  get(key: string, options?: ReadOptions): Promise<KeyValue<V> | undefined>
  range(options: RangeOptions): Promise<RangeResponse<V>>
  put(key: string, value: V, options?: PutOptions): Promise<{ revision: number; prevKv?: KeyValue<V> }>
  delete(key: KeySelector, options?: { prevKv?: boolean; signal?: AbortSignal }): Promise<{ revision: number; deleted: number; prevKvs?: KeyValue<V>[] }>
  txn(request: {
    compare: readonly TxnCompare<V>[]
    success: readonly TxnRequestOp<V>[]
    failure?: readonly TxnRequestOp<V>[]
    signal?: AbortSignal
  }): Promise<{ succeeded: boolean; revision: number; responses: TxnResponseOp<V>[] }>
  /** Discards the history before `revision`. */
  compact(revision: number, options?: { signal?: AbortSignal }): Promise<{ compactRevision: number }>
  /**
   * Follows changes to a key, a prefix or a range as this node applies them. Starting at a
   * compacted revision fails with COMPACTED (and the compact revision). End it with `break` or
   * `return()`.
   */
  watch(key: KeySelector, options?: WatchOptions): AsyncIterableIterator<WatchBatch<V>>
}

/** Leases (etcd's Lease API): keys attached to a lease go when it expires or is revoked. */
export interface Leases {
  /** Grants a lease of `ttlSeconds`; returns its id. */
  grant(ttlSeconds: number, options?: { signal?: AbortSignal }): Promise<{ id: number; ttlSeconds: number }>
  /** Revokes a lease now, deleting its keys (in one revision). */
  revoke(id: number, options?: { signal?: AbortSignal }): Promise<{ revision: number; deleted: number }>
  /** Restarts the lease's countdown at its full TTL. LEASE_NOT_FOUND if it expired. */
  keepAlive(id: number, options?: { signal?: AbortSignal }): Promise<{ id: number; ttlSeconds: number }>
  /**
   * The lease's TTL, its remaining time (exact on the leader; elsewhere the last checkpoint's,
   * an upper bound) and its keys; undefined if it does not exist.
   */
  timeToLive(id: number): Promise<{ id: number; ttlSeconds: number; remainingMs: number; keys: string[] } | undefined>
  list(): Promise<number[]>
}

/** A running member of a metastore cluster. */
export interface MetastoreNode<V> {
  readonly id: NodeId
  readonly kv: Kv<V>
  readonly lease: Leases
  /** The underlying driver: events (`leaderChanged`, `roleChanged`, `membershipChanged`, ...). */
  readonly raft: RaftNode
  /** The node's metrics registry (Prometheus text with `metrics.render()`). */
  readonly metrics: Metrics
  /** The members as this node applied them, with their addresses. */
  members(): Member[]
  status(): NodeStatus
  waitForLeader(signal?: AbortSignal): Promise<NodeId>
  /** Adds a learner (receives the log, does not vote). Resolves once the change is applied here. */
  addLearner(id: NodeId, options?: MemberChangeOptions): Promise<Member[]>
  /** Adds a voter. A new node should join as a learner and be promoted once caught up. */
  addVoter(id: NodeId, options?: MemberChangeOptions): Promise<Member[]>
  /** Makes a learner a voter. */
  promote(id: NodeId, options?: { readonly signal?: AbortSignal }): Promise<Member[]>
  remove(id: NodeId, options?: { readonly signal?: AbortSignal }): Promise<Member[]>
  transferLeadership(to: NodeId, signal?: AbortSignal): Promise<void>
  close(): Promise<void>
}

const dec = new TextDecoder()
const ZERO = new Uint8Array([0])

/** Whether `text` has no lone surrogate (so that UTF-8 encoding and decoding give it back). */
const isWellFormed = (text: string): boolean => (text as unknown as { isWellFormed(): boolean }).isWellFormed()

/** A range request for the current version of one key, nothing more: what the point-read path serves. */
function isPlainPoint(o: RangeOptions): boolean {
  return (o.revision ?? 0) === 0 && (o.limit ?? 0) === 0 && o.keysOnly !== true && o.countOnly !== true && o.sort === undefined
}

/**
 * Starts a node: opens its state (the KV store shares the log's database), joins the transport,
 * and returns the typed KV API.
 *
 * @example
 * ```ts
 * const node = await createNode<string>({ id: 1, peers: [1, 2, 3], storage: await levelStorage('./data/1'), transport })
 * await node.kv.put('greeting', 'hello')
 * (await node.kv.get('greeting'))?.value // 'hello'
 * ```
 */
export async function createNode<V = unknown>(options: CreateNodeOptions<V>): Promise<MetastoreNode<V>> {
  const codec = (options.codec ?? msgpackCodec) as ValueCodec<V>
  const maxKey = options.maxKeyBytes ?? 1536
  const maxValue = options.maxValueBytes ?? 1.5 * 1024 * 1024
  const db = options.storage.db
  const store = await MvccStore.open(db, { cacheBytes: options.cacheBytes })
  const hub = new WatchHub(store, options.clock)
  const stateMachine = new KvStateMachine(store, db)
  stateMachine.onEvents = (events) => hub.publish(events)
  stateMachine.onRestored = () => hub.restored()
  const raft = await RaftNode.start({
    id: options.id,
    peers: options.peers,
    join: options.join,
    store: options.storage,
    transport: options.transport,
    stateMachine,
    tickMs: options.tickMs,
    snapshotEvery: options.snapshotEvery,
    compactKeep: options.compactKeep,
    requestTimeoutMs: options.requestTimeoutMs,
    raft: { electionTick: options.electionTick, heartbeatTick: options.heartbeatTick, ...options.raft },
    logger: options.logger,
    clock: options.clock,
    metrics: options.metrics,
    rng: options.rng,
  })
  // One client id per node incarnation; sequence numbers grow, so a retry is applied once.
  const clientId = `n${options.id}-${randomBytes(6).toString('hex')}`
  let seq = 0

  const keyBytes = (key: string): Uint8Array => {
    if (typeof key !== 'string' || key.length === 0) throw new TypeError('a key is a non-empty string')
    const b = utf8Bytes(key)
    if (b.length > maxKey) throw new TooLargeError('key', b.length, maxKey)
    return b
  }
  const valueBytes = (value: V): Uint8Array => {
    const b = codec.encode(value)
    if (b.length > maxValue) throw new TooLargeError('value', b.length, maxValue)
    return b
  }
  const selector = (s: KeySelector): { key: Uint8Array; rangeEnd?: Uint8Array } => {
    if (typeof s === 'string') return { key: keyBytes(s) }
    if ('prefix' in s) {
      const key = s.prefix === '' ? ZERO : keyBytes(s.prefix)
      return { key, rangeEnd: s.prefix === '' ? ZERO : prefixEnd(key) }
    }
    const key = keyBytes(s.start)
    return s.end === undefined ? { key } : { key, rangeEnd: s.end === '\0' ? ZERO : keyBytes(s.end) }
  }
  /** A key-value for the caller: `value` (a copy the caller may keep) decoded, or none for keys only. */
  const kvFrom = (key: string, kv: Omit<RawKeyValue, 'key' | 'value'>, value: Uint8Array | undefined): KeyValue<V> => ({
    key,
    value: value === undefined ? (undefined as V) : codec.decode(value),
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    lease: kv.lease,
  })
  // `key`: the key as the caller gave it, when it is what decoding the stored bytes gives back
  // (a string with a lone surrogate was stored with U+FFFD in its place).
  const kvOf = (kv: RawKeyValue, keysOnly = false, key?: string): KeyValue<V> =>
    kvFrom(key !== undefined && isWellFormed(key) ? key : dec.decode(kv.key), kv, keysOnly ? undefined : kv.value)
  // A key string of ASCII characters within the size limit is its own cache id (its UTF-8 bytes
  // are its characters): a point read of it needs no encoding, and takes the cache's record in
  // this turn when it is there.
  const asciiKey = (key: unknown): key is string => {
    if (typeof key !== 'string' || key.length === 0 || key.length > maxKey) return false
    for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) > 0x7f) return false
    return true
  }
  /**
   * The current version of an ASCII key from the cache, in this turn (the store's revision read
   * in the same turn goes with it); `null` if absent, `undefined` if not cached.
   */
  const cachedPoint = (key: string): KeyValue<V> | null | undefined => {
    const hit = store.cachedCurrent(key)
    return hit == null ? hit : kvFrom(key, hit, pooledCopy(hit.value))
  }
  const rangeOf = (r: RangeResult, keysOnly = false): RangeResponse<V> => ({
    kvs: r.kvs.map((kv) => kvOf(kv, keysOnly)),
    count: r.count,
    more: r.more,
    revision: r.revision,
  })

  const run = async (cmd: Command, signal?: AbortSignal): Promise<CommandResult> => {
    const s = ++seq
    const result = (await raft.propose(`${clientId}:${s}`, encodeEnvelope({ clientId, seq: s, cmd }), signal)) as CommandResult
    if (result.type === 'error') throw toError(result.error)
    return result
  }
  const lessor = new Lessor(store, raft, (cmd) => run(cmd), {
    tickMs: options.tickMs ?? 100,
    checkpointEveryMs: options.leaseCheckpointMs,
    clock: raft.clock,
  })
  stateMachine.onLeaseCommand = (cmd) => lessor.applied(cmd)
  const leaseId = (id: number): number => {
    if (!Number.isSafeInteger(id) || id <= 0) throw new TypeError('a lease id is a positive safe integer')
    return id
  }
  const lease: Leases = {
    async grant(ttlSeconds, o) {
      if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) throw new TypeError('ttlSeconds is a positive integer')
      // Ids are drawn at random (48 bits): the leader does not hand them out.
      const id = randomBytes(6).readUIntBE(0, 6) || 1
      const r = await run({ type: 'leaseGrant', id, ttlSeconds }, o?.signal)
      if (r.type !== 'leaseGrant') throw new Error(`unexpected result ${r.type}`)
      return { id: r.id, ttlSeconds: r.ttlSeconds }
    },
    async revoke(id, o) {
      const r = await run({ type: 'leaseRevoke', id: leaseId(id) }, o?.signal)
      if (r.type !== 'leaseRevoke') throw new Error(`unexpected result ${r.type}`)
      return { revision: r.revision, deleted: r.deleted }
    },
    async keepAlive(id, o) {
      await raft.readBarrier(o?.signal)
      const info = await store.lease(leaseId(id))
      if (!info) throw new LeaseNotFoundError(id)
      await run({ type: 'leaseCheckpoint', checkpoints: [{ id, remainingTtlMs: info.ttlSeconds * 1000 }] }, o?.signal)
      // The checkpoint skips a lease that expired meanwhile: confirm it is still there.
      if (!(await store.lease(id))) throw new LeaseNotFoundError(id)
      return { id, ttlSeconds: info.ttlSeconds }
    },
    async timeToLive(id) {
      const info = await store.lease(leaseId(id))
      if (!info) return undefined
      return {
        id,
        ttlSeconds: info.ttlSeconds,
        remainingMs: lessor.remainingMs(id) ?? info.remainingTtlMs,
        keys: info.keys.map((k) => dec.decode(k)),
      }
    },
    async list() {
      return (await store.leases()).map((l) => l.id)
    },
  }
  const read = async (o: ReadOptions | undefined): Promise<void> => {
    if (!o?.serializable) await raft.readBarrier(o?.signal)
  }

  const kv: Kv<V> = {
    async get(key, o) {
      const ascii = asciiKey(key)
      const k = ascii ? undefined : keyBytes(key)
      if (!o?.serializable) await raft.readBarrier(o?.signal)
      if (o?.revision === undefined) {
        if (ascii) {
          const busy = nextTurnIfBusy()
          if (busy !== undefined) await busy
          const hit = cachedPoint(key)
          if (hit !== undefined) return hit ?? undefined
        }
        const { kv } = await store.current(k ?? keyBytes(key))
        return kv === undefined ? undefined : kvOf(kv, false, key)
      }
      const r = await store.range({ key: k ?? keyBytes(key), revision: o.revision })
      return r.kvs.length > 0 ? kvOf(r.kvs[0]) : undefined
    },
    async range(o) {
      const sel = o.prefix !== undefined ? selector({ prefix: o.prefix }) : o.start !== undefined ? selector({ start: o.start, end: o.end }) : undefined
      if (!sel) throw new TypeError('range needs a prefix or a start')
      await read(o)
      if (sel.rangeEnd === undefined && o.start !== undefined && isPlainPoint(o)) {
        // One key at the current revision: the point read's short path.
        if (asciiKey(o.start)) {
          const busy = nextTurnIfBusy()
          if (busy !== undefined) await busy
          const hit = cachedPoint(o.start)
          if (hit !== undefined) return { kvs: hit === null ? [] : [hit], count: hit === null ? 0 : 1, more: false, revision: store.revision }
        }
        const { kv, revision } = await store.current(sel.key)
        return { kvs: kv === undefined ? [] : [kvOf(kv, false, o.start)], count: kv === undefined ? 0 : 1, more: false, revision }
      }
      const req: Omit<RangeCommand, 'type'> = {
        ...sel,
        revision: o.revision,
        limit: o.limit,
        keysOnly: o.keysOnly,
        countOnly: o.countOnly,
        sortOrder: o.sort?.order,
        sortTarget: o.sort?.target,
      }
      return rangeOf(await store.range(req), o.keysOnly)
    },
    async put(key, value, o) {
      const r = await run({ type: 'put', key: keyBytes(key), value: valueBytes(value), lease: o?.lease, prevKv: o?.prevKv }, o?.signal)
      if (r.type !== 'put') throw new Error(`unexpected result ${r.type}`)
      return r.prevKv ? { revision: r.revision, prevKv: kvOf(r.prevKv) } : { revision: r.revision }
    },
    async delete(key, o) {
      const r = await run({ type: 'deleteRange', ...selector(key), prevKv: o?.prevKv }, o?.signal)
      if (r.type !== 'deleteRange') throw new Error(`unexpected result ${r.type}`)
      return { revision: r.revision, deleted: r.deleted, ...(r.prevKvs ? { prevKvs: r.prevKvs.map((kv) => kvOf(kv)) } : {}) }
    },
    async txn(t) {
      const compare: Compare[] = t.compare.map((c) => {
        const sel = selector(c.key)
        if (c.target === 'value') return { ...sel, target: 'value', result: c.op, value: valueBytes(c.value as V) }
        if (typeof c.value !== 'number') throw new TypeError(`a ${c.target} compare takes a number`)
        return { ...sel, target: c.target, result: c.op, value: c.value }
      })
      const op = (o: TxnRequestOp<V>): TxnOp => {
        if ('put' in o) return { type: 'put', key: keyBytes(o.put.key), value: valueBytes(o.put.value), lease: o.put.lease, prevKv: o.put.prevKv }
        if ('delete' in o) return { type: 'deleteRange', ...selector(o.delete.key), prevKv: o.delete.prevKv }
        return { type: 'range', ...selector(o.get.key), limit: o.get.limit, keysOnly: o.get.keysOnly, countOnly: o.get.countOnly }
      }
      const r = await run({ type: 'txn', compare, success: t.success.map(op), failure: (t.failure ?? []).map(op) }, t.signal)
      if (r.type !== 'txn') throw new Error(`unexpected result ${r.type}`)
      const responses = r.responses.map((x: TxnOpResult): TxnResponseOp<V> => {
        if (x.type === 'put') return { put: x.prevKv ? { revision: x.revision, prevKv: kvOf(x.prevKv) } : { revision: x.revision } }
        if (x.type === 'deleteRange') return { delete: { revision: x.revision, deleted: x.deleted, ...(x.prevKvs ? { prevKvs: x.prevKvs.map((kv) => kvOf(kv)) } : {}) } }
        return { get: rangeOf(x) }
      })
      return { succeeded: r.succeeded, revision: r.revision, responses }
    },
    watch(key, o) {
      const sel = selector(key)
      const it = hub.watch(sel, o?.fromRevision, o?.prevKv === true, o?.maxQueued ?? 1024, o?.progressNotifyMs ?? 0)
      const typed: AsyncIterableIterator<WatchBatch<V>> = {
        async next() {
          const r = await it.next()
          if (r.done) return { value: undefined, done: true }
          const events = r.value.events.map((e) => ({
            type: e.type,
            // A deletion carries the key (and its revision) only.
            kv: kvOf(e.kv, e.type === 'delete'),
            ...(e.prevKv ? { prevKv: kvOf(e.prevKv) } : {}),
          }))
          return { value: { revision: r.value.revision, events }, done: false }
        },
        async return() {
          await it.return?.()
          return { value: undefined, done: true }
        },
        [Symbol.asyncIterator]() {
          return typed
        },
      }
      return typed
    },
    async compact(revision, o) {
      const r = await run({ type: 'compact', revision }, o?.signal)
      if (r.type !== 'compact') throw new Error(`unexpected result ${r.type}`)
      return { compactRevision: r.compactRevision }
    },
  }

  const members = (): Member[] => membersOf(raft.confState, raft.addresses)
  const change = async (type: 'addVoter' | 'addLearner' | 'removeNode', id: NodeId, o?: MemberChangeOptions): Promise<Member[]> => {
    if (!Number.isSafeInteger(id) || id <= 0) throw new TypeError('a node id is a positive safe integer')
    if (o?.address !== undefined && (typeof o.address !== 'string' || o.address.length === 0)) throw new TypeError('an address is a non-empty string')
    const cs = await raft.proposeConfChange({ changes: [{ type, nodeId: id }] }, o?.signal, o?.address)
    return membersOf(cs, raft.addresses)
  }
  const status = (): NodeStatus => {
    const s = raft.status()
    let progress: Record<number, { match: number; next: number; state: string; recentActive: boolean }> | undefined
    if (s.progress) {
      progress = {}
      for (const [id, p] of s.progress) progress[id] = { match: p.match, next: p.next, state: p.state, recentActive: p.recentActive }
    }
    return {
      id: s.id,
      role: s.role,
      term: s.term,
      leader: s.leader,
      commitIndex: s.commit,
      appliedIndex: raft.appliedIndex,
      lastIndex: s.lastIndex,
      revision: store.revision,
      compactRevision: store.compactRevision,
      members: members(),
      config: s.config,
      ...(progress ? { progress } : {}),
      removed: raft.removed,
    }
  }

  return {
    id: options.id,
    kv,
    lease,
    raft,
    metrics: raft.metrics,
    members,
    status,
    waitForLeader: (signal) => raft.waitForLeader(signal),
    addLearner: (id, o) => change('addLearner', id, o),
    addVoter: (id, o) => change('addVoter', id, o),
    promote: (id, o) => change('addVoter', id, { signal: o?.signal }),
    remove: (id, o) => change('removeNode', id, { signal: o?.signal }),
    transferLeadership: (to, signal) => raft.transferLeadership(to, signal),
    async close() {
      lessor.close()
      hub.close()
      await raft.close()
      await store.close()
      // The node owns the log store it was given (and, through it, the database).
      await options.storage.close()
    },
  }
}
