/**
 * Reading a stopped node's database directly: the Raft log store (hard state, log bounds,
 * snapshot, membership) and the KV state machine (applied index, revision), and a one-line
 * summary of any log entry.
 *
 * NB: the stores are opened as a node opens them, so opening does what a restart would do (cut a
 * torn tail that was never committed). A database a running node holds fails with `LOCKED`.
 *
 * @module
 */
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { unpack } from 'msgpackr'
import { decodeEnvelope } from '../../lib/kv/codec.js'
import type { Command as KvCommand, TxnOp } from '../../lib/kv/commands.js'
import { MvccStore } from '../../lib/kv/mvcc-store.js'
import { decodeConfChange } from '../../lib/raft/conf-change-codec.js'
import { RaftStorageError } from '../../lib/raft/storage.js'
import { EntryType, type ConfState, type Entry, type HardState, type SnapshotMetadata } from '../../lib/raft/types.js'
import { levelStorage } from '../../lib/storage/level-engine.js'
import type { LevelLogStore, RecoveryReport } from '../../lib/storage/level-log-store.js'
import { rocksdbStorage } from '../../lib/storage/rocksdb-engine.js'
import { CommandError } from './context.js'
import { printableBytes, truncate } from './format.js'

/** The storage engines a data directory may hold. */
export type Engine = 'leveldb' | 'rocksdb'

/** What `inspect` reports about a database. */
export interface InspectSummary {
  readonly path: string
  readonly engine: Engine
  readonly hardState: HardState
  readonly firstIndex: number
  readonly lastIndex: number
  /** The membership the log store reports (the latest configuration it persisted). */
  readonly confState: ConfState
  readonly snapshot: SnapshotMetadata & { readonly dataBytes: number }
  readonly recovery: RecoveryReport
  readonly kv: {
    readonly appliedIndex: number
    readonly revision: number
    readonly compactRevision: number
    readonly keys: number
    readonly leases: number
    /** The membership record the state machine wrote with its applied index, if any. */
    readonly membership?: Readonly<Record<string, unknown>>
  }
}

/** One log entry, summarized. */
export interface EntrySummary {
  readonly index: number
  readonly term: number
  readonly type: 'normal' | 'confChange'
  /** Bytes of the entry's data. */
  readonly size: number
  readonly summary: string
}

/** An open database to inspect; {@link close} it when done. */
export interface InspectedDatabase {
  readonly summary: InspectSummary
  readonly store: LevelLogStore
  close(): Promise<void>
}

/** Which engine wrote `path` (RocksDB keeps `OPTIONS-*` files beside `CURRENT`; LevelDB does not). */
export function detectEngine(path: string): Engine {
  let names: string[]
  try {
    if (!statSync(path).isDirectory()) throw new CommandError('NOT_FOUND', `${path} is not a directory`)
    names = readdirSync(path)
  } catch (err) {
    if (err instanceof CommandError) throw err
    throw new CommandError('NOT_FOUND', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  if (!existsSync(join(path, 'CURRENT'))) throw new CommandError('NOT_FOUND', `no database in ${path} (no CURRENT file): is it a node's data directory?`)
  return names.some((n) => n.startsWith('OPTIONS-')) ? 'rocksdb' : 'leveldb'
}

/** Opens the database at `path` (which must exist: nothing is created). */
export async function openDatabase(path: string, engine: Engine = detectEngine(path)): Promise<InspectedDatabase> {
  const store = engine === 'rocksdb' ? await rocksdbStorage(path) : await levelStorage(path)
  try {
    const kv = await MvccStore.open(store.db)
    try {
      const meta = store.db.sublevel<string, Uint8Array>('node', { keyEncoding: 'utf8', valueEncoding: 'view' })
      const raw = await meta.get('conf')
      const membership = raw === undefined ? undefined : (unpack(raw) as Record<string, unknown>)
      const counted = await kv.range({ key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0), countOnly: true })
      const leases = await kv.leases()
      const snap = store.snapshot()
      const summary: InspectSummary = {
        path,
        engine,
        hardState: store.hardState,
        firstIndex: store.firstIndex(),
        lastIndex: store.lastIndex(),
        confState: store.initialState().confState,
        snapshot: { ...snap.metadata, dataBytes: snap.data.length },
        recovery: store.recovery,
        kv: {
          appliedIndex: kv.appliedIndex,
          revision: kv.revision,
          compactRevision: kv.compactRevision,
          keys: counted.count,
          leases: leases.length,
          ...(membership !== undefined ? { membership } : {}),
        },
      }
      return { summary, store, close: () => store.close() }
    } finally {
      await kv.close()
    }
  } catch (err) {
    await store.close().catch(() => {})
    throw err
  }
}

/**
 * Reads entries [lo, hi) in pieces of at most `batch`, waiting for the store's reads from disk.
 * Yields each piece as it is read, so a long log is never held in memory at once.
 */
export async function* readEntries(store: LevelLogStore, lo: number, hi: number, batch = 1024): AsyncGenerator<Entry[]> {
  let next = lo
  while (next < hi) {
    const end = Math.min(hi, next + batch)
    let got: Entry[]
    try {
      got = store.entries(next, end, Number.MAX_SAFE_INTEGER)
    } catch (err) {
      if (!(err instanceof RaftStorageError) || err.code !== 'UNAVAILABLE') throw err
      // The read from disk has started; the store says when a retry will find it.
      await new Promise<void>((resolve) => store.once('entriesLoaded', () => resolve()))
      continue
    }
    if (got.length === 0) return
    next += got.length
    yield got
  }
}

/** A value as stored by a node (msgpack by default) in a few characters. */
function valuePreview(bytes: Uint8Array, max = 40): string {
  try {
    const value: unknown = unpack(bytes)
    if (typeof value === 'string') return truncate(JSON.stringify(value), max)
    const json = JSON.stringify(value)
    if (json !== undefined) return truncate(json, max)
  } catch {
    // Not msgpack (another codec): show the bytes.
  }
  return printableBytes(bytes, max)
}

function range(key: Uint8Array, rangeEnd: Uint8Array | undefined): string {
  const k = printableBytes(key)
  if (rangeEnd === undefined || rangeEnd.length === 0) return `"${k}"`
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return key.length === 1 && key[0] === 0 ? 'every key' : `from "${k}"`
  return `["${k}", "${printableBytes(rangeEnd)}")`
}

function describeOp(op: TxnOp): string {
  switch (op.type) {
    case 'put':
      return `put "${printableBytes(op.key)}"${op.value !== undefined ? ` = ${valuePreview(op.value)}` : ''}${op.lease ? ` lease ${op.lease}` : ''}`
    case 'deleteRange':
      return `delete ${range(op.key, op.rangeEnd)}`
    case 'range':
      return `get ${range(op.key, op.rangeEnd)}`
  }
}

/** A KV command in one line. */
export function describeCommand(cmd: KvCommand): string {
  switch (cmd.type) {
    case 'put':
    case 'deleteRange':
    case 'range':
      return describeOp(cmd)
    case 'txn': {
      const ops = (list: readonly TxnOp[]): string => (list.length === 0 ? '-' : list.map(describeOp).join('; '))
      return `txn: ${cmd.compare.length} compares; success: ${ops(cmd.success)}; failure: ${ops(cmd.failure)}`
    }
    case 'compact':
      return `compact revision ${cmd.revision}`
    case 'leaseGrant':
      return `lease grant ${cmd.id} ttl ${cmd.ttlSeconds}s`
    case 'leaseRevoke':
      return `lease revoke ${cmd.id}`
    case 'leaseCheckpoint':
      return `lease checkpoint ${cmd.checkpoints.map((c) => `${c.id}:${c.remainingTtlMs}ms`).join(', ')}`
    case 'leaseExpire':
      return `lease expire ${cmd.ids.join(', ')}`
  }
}

/** A conf change's context: JSON as it is (addresses, usually), anything else as bytes. */
function describeContext(bytes: Uint8Array): string {
  try {
    return truncate(JSON.stringify(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))), 120)
  } catch {
    return `"${printableBytes(bytes)}"`
  }
}

/** One entry in one line: its command, membership change or (for an empty entry) the new leader's no-op. */
export function describeEntry(entry: Entry): EntrySummary {
  const base = { index: entry.index, term: entry.term, size: entry.data.length }
  if (entry.type === EntryType.ConfChange) {
    let summary: string
    try {
      const cc = decodeConfChange(entry.data)
      const changes = cc.changes.length === 0 ? 'leave joint configuration' : cc.changes.map((c) => `${c.type} ${c.nodeId}`).join(', ')
      const transition = cc.transition !== undefined && cc.transition !== 'auto' ? ` (${cc.transition})` : ''
      const context = cc.context !== undefined && cc.context.length > 0 ? ` context ${describeContext(cc.context)}` : ''
      summary = `conf change: ${changes}${transition}${context}`
    } catch (err) {
      summary = `undecodable conf change: ${(err as Error).message}`
    }
    return { ...base, type: 'confChange', summary }
  }
  if (entry.data.length === 0) return { ...base, type: 'normal', summary: 'empty entry (a new leader takes office)' }
  let summary: string
  try {
    const envelope = decodeEnvelope(entry.data)
    const client = envelope.clientId === '' ? '' : ` [${envelope.clientId}#${envelope.seq}]`
    summary = `${describeCommand(envelope.cmd)}${client}`
  } catch (err) {
    summary = `undecodable command: ${(err as Error).message}`
  }
  return { ...base, type: 'normal', summary }
}
