import { pack, unpack } from 'msgpackr'
import { decodeEnvelope } from '../kv/codec.js'
import type { Command } from '../kv/commands.js'
import { InvalidSnapshotError } from '../kv/errors.js'
import type { MvccStore } from '../kv/mvcc-store.js'
import type { RevisionEvents } from '../kv/results.js'
import { EntryType, type ConfState, type Entry, type Snapshot } from '../raft/types.js'
import { syncOptions, type LevelDatabase } from '../storage/level-database.js'
import type { MemberAddresses } from './membership.js'
import type { AppliedRequest, StateMachine } from './state-machine.js'

const EMPTY = new Uint8Array(0)

/** The membership record: the configuration and the applied index it belongs to. */
interface ConfRecord {
  readonly index: number
  readonly confState: ConfState
  readonly addresses?: MemberAddresses
}

/** A snapshot: the store's chunks and the members' addresses. */
interface SnapshotData {
  readonly chunks: Uint8Array[]
  readonly addresses?: MemberAddresses
}

/** The data of a Raft snapshot staged from a stream: which staged generation, and the members' addresses. */
interface StagedData {
  readonly staged: number
  readonly addresses?: MemberAddresses
}

/** The first chunk of a streamed snapshot: the members' addresses; the store's chunks follow. */
interface StreamHead {
  readonly format: typeof STREAM_FORMAT
  readonly addresses?: MemberAddresses
}

const STREAM_FORMAT = 'metastore-node-snapshot'

/** The request id the driver tracks for a command envelope. */
export function requestIdOf(clientId: string, seq: number): string {
  return `${clientId}:${seq}`
}

/**
 * The MVCC store as the driver's state machine. The membership is written with each batch of
 * effects (as an extra operation of the store's own atomic write), so that the applied index and
 * the configuration at it always agree on disk.
 */
export class KvStateMachine implements StateMachine {
  readonly store: MvccStore
  readonly #meta
  readonly #db: LevelDatabase
  #addresses: MemberAddresses = {}
  /** Receives the watch events of each applied batch, in revision order. */
  onEvents: ((events: readonly RevisionEvents[]) => void) | undefined
  /** Receives the lease commands of each applied batch (for the leader's expiry countdown). */
  onLeaseCommand: ((cmd: Command) => void) | undefined
  /** Called after the state was replaced by a snapshot (no live events cover the jump). */
  onRestored: (() => void) | undefined

  /** The write of the last batch applied. */
  #written: Promise<void> = Promise.resolve()

  constructor(store: MvccStore, db: LevelDatabase, prefix = 'node') {
    this.store = store
    this.#db = db
    this.#meta = db.sublevel<string, Uint8Array>(prefix, { keyEncoding: 'utf8', valueEncoding: 'view' })
  }

  async open(): Promise<{ appliedIndex: number; confState: ConfState | undefined; addresses?: MemberAddresses }> {
    const appliedIndex = this.store.appliedIndex
    const raw = await this.#meta.get('conf')
    const rec = raw === undefined ? undefined : (unpack(raw) as ConfRecord)
    // A record newer than the applied index is the trace of a snapshot restore that did not
    // finish: report no membership, and the driver restores again from the log's snapshot.
    if (rec === undefined || rec.index > appliedIndex) return { appliedIndex, confState: undefined }
    this.#addresses = rec.addresses ?? {}
    // After a restore from data newer than its snapshot's index, the store is ahead of the
    // membership: the driver resumes at the membership's index, and the store skips what it has.
    return { appliedIndex: rec.index, confState: rec.confState, addresses: this.#addresses }
  }

  async apply(entries: readonly Entry[], confState: ConfState, addresses?: MemberAddresses): Promise<ReadonlyArray<AppliedRequest | undefined>> {
    const last = entries[entries.length - 1].index
    if (addresses) this.#addresses = addresses
    const record: ConfRecord = { index: last, confState, addresses: this.#addresses }
    // Answered once visible; the write goes on while the driver takes its next Ready.
    const batch = await this.store.applyAhead(
      // Membership entries carry no command but move the applied index.
      entries.map((e) => ({ index: e.index, data: e.type === EntryType.Normal ? e.data : EMPTY })),
      { extraOps: [{ type: 'put', sublevel: this.#meta, key: 'conf', value: pack(record) }] },
    )
    this.#written = batch.written
    if (batch.events.length > 0) this.onEvents?.(batch.events)
    if (this.onLeaseCommand) {
      // Only lease grants and checkpoints interest the lessor: decode just those entries again.
      for (const r of batch.results) {
        if (r.result.type !== 'leaseGrant' && r.result.type !== 'leaseCheckpoint') continue
        const e = entries[r.index - entries[0].index]
        this.onLeaseCommand(decodeEnvelope(e.data).cmd)
      }
    }
    const byIndex = new Map(batch.results.map((r) => [r.index, r]))
    return entries.map((e) => {
      const r = byIndex.get(e.index)
      if (!r || r.clientId === '') return undefined
      return { requestId: requestIdOf(r.clientId, r.seq), result: r.result }
    })
  }

  /** Settles when the last batch applied is written (each batch's write waits for the one before). */
  async flushed(): Promise<void> {
    await this.#written
  }

  async snapshot(): Promise<Uint8Array> {
    const snap = await this.store.snapshot()
    const chunks: Uint8Array[] = []
    for await (const c of snap.chunks) chunks.push(c)
    const data: SnapshotData = { chunks, addresses: this.#addresses }
    return pack(data)
  }

  /**
   * The state as a stream of chunks read from a database snapshot: a chunk with the members'
   * addresses, then the store's stream. The state is as of the applied index when it is called.
   */
  async *snapshotStream(): AsyncGenerator<Uint8Array> {
    const head: StreamHead = { format: STREAM_FORMAT, addresses: this.#addresses }
    const snap = await this.store.snapshot()
    let done = false
    try {
      yield pack(head)
      yield* snap.chunks
      done = true
    } finally {
      // The store's stream releases its database snapshot itself when read to the end.
      if (!done) await snap.close()
    }
  }

  /**
   * Writes a {@link snapshotStream} beside the live state (see {@link MvccStore.stage}) and
   * returns the Raft snapshot data that names it, for {@link restore}.
   */
  async stage(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
    const it = chunks[Symbol.asyncIterator]()
    try {
      const first = await it.next()
      if (first.done === true) throw new InvalidSnapshotError('the snapshot stream is empty')
      let head: StreamHead
      try {
        head = unpack(first.value) as StreamHead
      } catch (error) {
        throw new InvalidSnapshotError(`undecodable snapshot stream head: ${(error as Error).message}`)
      }
      if (typeof head !== 'object' || head === null || head.format !== STREAM_FORMAT) throw new InvalidSnapshotError('the snapshot stream does not start with its head')
      const rest: AsyncIterable<Uint8Array> = { [Symbol.asyncIterator]: () => it }
      const staged = await this.store.stage(rest)
      const data: StagedData = { staged: staged.id, addresses: head.addresses ?? {} }
      return pack(data)
    } catch (error) {
      // Stops the sender's stream when this side gave up before its end.
      await it.return?.()
      throw error
    }
  }

  /** Drops a staged snapshot that Raft did not take (or that a crash left behind). */
  async discardStaged(data?: Uint8Array): Promise<void> {
    const id = data === undefined ? undefined : (unpack(data) as StagedData).staged
    await this.store.discardStaged(id)
  }

  async restore(snapshot: Snapshot): Promise<{ addresses: MemberAddresses }> {
    const data = snapshot.data.length === 0 ? { chunks: [] } : (unpack(snapshot.data) as SnapshotData | StagedData)
    const addresses = data.addresses ?? {}
    // Written first, with the snapshot's index: if the restore below does not finish, open()
    // sees a record past the applied index and the driver restores again.
    const record: ConfRecord = { index: snapshot.metadata.index, confState: snapshot.metadata.confState, addresses }
    // An applied batch still being written carries a membership record too: it must land first.
    await this.flushed()
    await this.#db.batch([{ type: 'put', sublevel: this.#meta, key: 'conf', value: pack(record) }], syncOptions(true))
    if ('staged' in data) await this.store.install(data.staged, { sync: true })
    else await this.store.restore(data.chunks, { sync: true })
    this.#addresses = addresses
    this.onRestored?.()
    return { addresses }
  }
}
