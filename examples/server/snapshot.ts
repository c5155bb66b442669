/**
 * Backups: `GET /v1/snapshot` streams the whole key space at one revision, and
 * `metastore --restore <file>` starts a new cluster from such a file.
 *
 * The file is newline-delimited JSON, one record per line: a header
 * (`{"format":"metastore-snapshot","version":1,"revision":R,...}`), the leases
 * (`{"lease":{"id","ttl"}}`), the keys in key order (`{"kv":{"key","value","lease"}}`), and a
 * trailer (`{"end":{"keys","leases","sha256"}}`) with the SHA-256 of every line before it. A file
 * cut short or altered has no valid trailer and is refused whole.
 *
 * A restore loads the keys and leases through the log of the new cluster: the data comes back,
 * revisions start over, leases get new ids and their full TTL again (keys stay attached).
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { MetastoreNode, TxnRequestOp } from '../../lib/node/create-node.js'
import { drained } from '../../transports/http-protocol.js'
import type { RequestContext } from './context.js'
import { Query } from './http-api.js'
import type { Log } from './log.js'

export const SNAPSHOT_FORMAT = 'metastore-snapshot'
const PAGE = 1000
/** Operations per restore transaction, and their rough byte budget. */
const BATCH_OPS = 128
const BATCH_BYTES = 512 * 1024

interface DumpKv {
  readonly key: string
  readonly value: unknown
  readonly lease: number
}

/** A parsed, verified snapshot file. */
export interface SnapshotFile {
  readonly revision: number
  readonly leases: ReadonlyArray<{ readonly id: number; readonly ttl: number }>
  readonly kvs: readonly DumpKv[]
}

/** `GET /v1/snapshot`: the key space at one revision, as the file described above. */
export async function serveSnapshot(ctx: RequestContext): Promise<void> {
  new Query(ctx.query, [])
  const { node, res } = ctx
  // A linearizable read fixes the revision; every page is then read at it.
  const first = await node.kv.range({ prefix: '', countOnly: true, signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(30_000)]) })
  const revision = first.revision
  const leases: Array<{ id: number; ttl: number }> = []
  for (const id of await node.lease.list()) {
    const info = await node.lease.timeToLive(id)
    if (info) leases.push({ id, ttl: info.ttlSeconds })
  }
  const hash = createHash('sha256')
  res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-disposition': `attachment; filename="metastore-${revision}.snapshot"`,
  })
  const write = async (record: unknown): Promise<void> => {
    const line = JSON.stringify(record) + '\n'
    hash.update(line)
    if (!res.write(line) && !res.destroyed) await drained(res)
    if (res.destroyed) throw new Error('the client went away')
  }
  try {
    await write({ format: SNAPSHOT_FORMAT, version: 1, revision, createdAt: new Date().toISOString(), node: node.id })
    for (const l of leases) await write({ lease: l })
    let keys = 0
    let page = await node.kv.range({ prefix: '', revision, serializable: true, limit: PAGE })
    for (;;) {
      for (const kv of page.kvs) await write({ kv: { key: kv.key, value: kv.value, lease: kv.lease } })
      keys += page.kvs.length
      if (!page.more || page.kvs.length === 0) break
      const last = page.kvs[page.kvs.length - 1].key
      page = await node.kv.range({ start: last + '\0', end: '\0', revision, serializable: true, limit: PAGE })
    }
    const line = JSON.stringify({ end: { keys, leases: leases.length, sha256: hash.digest('hex') } }) + '\n'
    res.end(line)
  } catch (err) {
    // Headers are gone: cut the stream, so the file lacks its trailer and no restore takes it.
    ctx.log.warn(`snapshot stream stopped: ${(err as Error).message}`)
    res.destroy()
  }
}

/** Reads and verifies a snapshot file; throws a clear error for anything else. */
export async function readSnapshotFile(path: string): Promise<SnapshotFile> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new Error(`cannot read the snapshot ${path}: ${(err as Error).message}`)
  }
  const lines = text.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  const bad = (why: string): Error => new Error(`${path} is not a valid metastore snapshot: ${why}`)
  if (lines.length < 2) throw bad('it is empty or cut short')
  const parse = (line: string, n: number): Record<string, unknown> => {
    try {
      const v = JSON.parse(line) as unknown
      if (v === null || typeof v !== 'object') throw new Error('not an object')
      return v as Record<string, unknown>
    } catch {
      throw bad(`line ${n + 1} is not a JSON record`)
    }
  }
  const header = parse(lines[0], 0)
  if (header.format !== SNAPSHOT_FORMAT || header.version !== 1) throw bad('unknown header (format or version)')
  const trailer = parse(lines[lines.length - 1], lines.length - 1).end as Record<string, unknown> | undefined
  if (!trailer || typeof trailer.sha256 !== 'string') throw bad('no trailer: the file was cut short')
  const hash = createHash('sha256')
  for (let i = 0; i < lines.length - 1; i++) hash.update(lines[i] + '\n')
  if (hash.digest('hex') !== trailer.sha256) throw bad('its checksum does not match (the file was altered or damaged)')
  const leases: Array<{ id: number; ttl: number }> = []
  const kvs: DumpKv[] = []
  for (let i = 1; i < lines.length - 1; i++) {
    const r = parse(lines[i], i)
    const lease = r.lease as { id?: unknown; ttl?: unknown } | undefined
    const kv = r.kv as { key?: unknown; value?: unknown; lease?: unknown } | undefined
    if (lease && Number.isSafeInteger(lease.id) && Number.isSafeInteger(lease.ttl)) leases.push({ id: lease.id as number, ttl: lease.ttl as number })
    else if (kv && typeof kv.key === 'string' && kv.value !== undefined) kvs.push({ key: kv.key, value: kv.value, lease: Number.isSafeInteger(kv.lease) ? (kv.lease as number) : 0 })
    else throw bad(`line ${i + 1} is neither a lease nor a key`)
  }
  if (trailer.keys !== kvs.length || trailer.leases !== leases.length) throw bad('its counts do not match its records')
  return { revision: Number(header.revision), leases, kvs }
}

/**
 * Loads a snapshot into a new, empty cluster through `node` (any member): leases first, then the
 * keys in transactions of bounded size. Refuses a cluster that already holds data.
 */
export async function loadSnapshot(node: MetastoreNode<unknown>, file: SnapshotFile, log: Log, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      await node.waitForLeader(AbortSignal.timeout(Math.max(1, deadline - Date.now())))
      break
    } catch (err) {
      if (Date.now() >= deadline) throw new Error(`no leader within ${timeoutMs} ms to restore into: is a majority up?`, { cause: err })
    }
  }
  const signal = (): AbortSignal => AbortSignal.timeout(Math.max(1, deadline - Date.now()))
  const existing = await node.kv.range({ prefix: '', countOnly: true, signal: signal() })
  if (existing.count > 0 || (await node.lease.list()).length > 0) {
    throw new Error('the cluster already holds data: a snapshot is restored into a new, empty cluster only')
  }
  const leaseIds = new Map<number, number>()
  for (const l of file.leases) leaseIds.set(l.id, (await node.lease.grant(l.ttl, { signal: signal() })).id)
  let ops: TxnRequestOp<unknown>[] = []
  let bytes = 0
  const flush = async (): Promise<void> => {
    if (ops.length === 0) return
    await node.kv.txn({ compare: [], success: ops, signal: signal() })
    ops = []
    bytes = 0
  }
  let skipped = 0
  for (const kv of file.kvs) {
    const lease = kv.lease === 0 ? 0 : leaseIds.get(kv.lease)
    // A key whose lease was gone when the snapshot was taken went with it.
    if (lease === undefined) {
      skipped++
      continue
    }
    ops.push({ put: { key: kv.key, value: kv.value, ...(lease ? { lease } : {}) } })
    bytes += kv.key.length + (typeof kv.value === 'string' ? kv.value.length : JSON.stringify(kv.value).length)
    if (ops.length >= BATCH_OPS || bytes >= BATCH_BYTES) await flush()
  }
  await flush()
  log.info(`restored ${file.kvs.length - skipped} keys and ${file.leases.length} leases from a snapshot at revision ${file.revision}`)
}
