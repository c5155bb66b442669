// Snapshots: a stream of bounded chunks covering the whole state (keys, history, leases, dedup
// table, counters); restore() replaces the state with it atomically. Round trips on LevelDB
// with 100,000 keys; a restore that is cut short or "crashes" at any write leaves the old state.
import t from 'tap'
import { Level } from 'level'
import { MemoryLevel } from 'memory-level'
import { encodeEnvelope } from '../../lib/kv/codec.js'
import { NO_END } from '../../lib/kv/key-range.js'
import { MvccStore } from '../../lib/kv/mvcc-store.js'
import { InvalidSnapshotError } from '../../lib/kv/errors.js'
import { Harness, rawRecords, tempDir, utf8 } from './helpers.js'
import type { LevelDatabase } from '../../lib/storage/level-database.js'

async function collect(iterable: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const chunk of iterable) out.push(chunk)
  return out
}

/** A store with some of everything: history, deletions, a compaction, leases, dedup records. */
async function populated(db: LevelDatabase): Promise<Harness> {
  const h = await Harness.on(db)
  await h.run({ type: 'leaseGrant', id: 4, ttlSeconds: 9 })
  for (let i = 0; i < 40; i++) await h.put(`key/${i % 13}`, `v${i}`, i % 5 === 0 ? { lease: 4 } : {})
  await h.del('key/3')
  await h.run({ type: 'compact', revision: 20 })
  await h.run({ type: 'leaseCheckpoint', checkpoints: [{ id: 4, remainingTtlMs: 1234 }] })
  return h
}

/** Everything observable about a store. */
async function observe(store: MvccStore): Promise<unknown> {
  const all = async (revision?: number): Promise<unknown> => (await store.range({ key: NO_END, rangeEnd: NO_END, revision })).kvs
  const events: unknown[] = []
  for await (const group of store.eventsSince(Math.max(1, store.compactRevision), { prevKv: true })) events.push(group)
  return {
    appliedIndex: store.appliedIndex,
    revision: store.revision,
    compactRevision: store.compactRevision,
    now: await all(),
    atCompact: await all(store.compactRevision),
    events,
    leases: await store.leases(),
  }
}

t.test('a snapshot restored into another store reproduces it, dedup table included', async (t) => {
  const source = await populated(new MemoryLevel())
  const snapshot = await source.store.snapshot({ chunkBytes: 256 })
  t.equal(snapshot.appliedIndex, source.store.appliedIndex)
  t.equal(snapshot.revision, source.store.revision)
  const chunks = await collect(snapshot.chunks)
  t.ok(chunks.length > 5, 'several chunks')
  const target = await populated(new MemoryLevel())
  await target.run({ type: 'put', key: utf8('only-in-target'), value: utf8('x') })
  const header = await target.store.restore(chunks)
  t.same(header, { appliedIndex: source.store.appliedIndex, revision: source.store.revision, compactRevision: 20 })
  t.same(await observe(target.store), await observe(source.store))
  // The last request of the source's client is a duplicate on the restored store too.
  const retry = { index: source.store.appliedIndex + 1, data: encodeEnvelope({ clientId: 'client', seq: source.index, cmd: { type: 'put', key: utf8('z'), value: utf8('z') } }) }
  t.equal((await target.store.apply([retry])).results[0].duplicate, true)
  // And a reopened store reads the restored state from disk.
  t.same(await observe(await MvccStore.open(target.db)), await observe(target.store))
})

t.test('a snapshot is a point-in-time view while batches keep being applied', async (t) => {
  const source = await populated(new MemoryLevel())
  const expected = await observe(source.store)
  const snapshot = await source.store.snapshot({ chunkBytes: 128 })
  const iterator = snapshot.chunks[Symbol.asyncIterator]()
  const first = await iterator.next()
  for (let i = 0; i < 10; i++) await source.put(`new/${i}`, 'x')
  await source.run({ type: 'compact', revision: source.store.revision })
  const rest: Uint8Array[] = [first.value as Uint8Array]
  for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) rest.push(next.value)
  const target = await Harness.memory()
  await target.store.restore(rest)
  t.same(await observe(target.store), expected)
})

t.test('a bad stream is refused and the old state stays', async (t) => {
  const source = await populated(new MemoryLevel())
  const chunks = await collect(source.store.snapshotChunks({ chunkBytes: 200 }))
  const target = await Harness.memory()
  await target.put('mine', 'x')
  const before = await observe(target.store)
  const raw = await rawRecords(target.db)
  const damaged = chunks.map((c) => c.slice())
  damaged[2][damaged[2].length - 3] ^= 0xff
  await t.rejects(target.store.restore(damaged), InvalidSnapshotError, 'checksum')
  await t.rejects(target.store.restore(chunks.slice(0, -1)), InvalidSnapshotError, 'no end chunk')
  await t.rejects(target.store.restore(chunks.slice(1)), InvalidSnapshotError, 'no header')
  await t.rejects(target.store.restore([...chunks, chunks[1]]), InvalidSnapshotError, 'data after the end')
  async function* failing(): AsyncGenerator<Uint8Array> {
    yield chunks[0]
    yield chunks[1]
    throw new Error('connection reset')
  }
  await t.rejects(target.store.restore(failing()), { message: 'connection reset' })
  t.same(await observe(target.store), before)
  t.same(await rawRecords(target.db), raw, 'not a byte left behind')
})

t.test('a crash at any point of a restore leaves the old state, or the whole new one', async (t) => {
  const source = await populated(new MemoryLevel())
  const chunks = await collect(source.store.snapshotChunks({ chunkBytes: 300 }))
  const db = new MemoryLevel()
  const target = await Harness.on(db)
  await target.put('old', 'state')
  const old = await observe(target.store)
  const expected = await observe(source.store)
  // What a crash would leave on disk: a copy of every record written so far.
  const crashCopy = async (): Promise<MemoryLevel> => {
    const copy = new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' })
    await copy.batch((await rawRecords(db)).map(([k, v]) => ({ type: 'put' as const, key: Buffer.from(k, 'hex'), value: Buffer.from(v, 'hex') })))
    return copy as unknown as MemoryLevel
  }
  const recovered: unknown[] = []
  async function* crashing(): AsyncGenerator<Uint8Array> {
    for (const chunk of chunks) {
      recovered.push(await observe(await MvccStore.open(await crashCopy())))
      yield chunk
    }
    // Here restore() has written every chunk and not yet switched.
    const copy = await crashCopy()
    const partial = async (): Promise<number> =>
      (await rawRecords(copy)).filter(([k]) => Buffer.from(k, 'hex').toString('latin1').startsWith('!kv!!g2!')).length
    t.ok((await partial()) > 50, 'the new generation is on disk beside the old one')
    recovered.push(await observe(await MvccStore.open(copy)))
    t.equal(await partial(), 0, 'open() cleared the partial copy')
  }
  await target.store.restore(crashing())
  t.equal(recovered.length, chunks.length + 1)
  t.ok(recovered.every((state) => JSON.stringify(state) === JSON.stringify(old)), 'every crash before the switch recovers the old state')
  t.same(await observe(await MvccStore.open(await crashCopy())), expected, 'after the switch, the new state')
  t.same(await observe(target.store), expected)
})

t.test('100,000 keys on LevelDB: snapshot, restore, compare', async (t) => {
  const dirs = [tempDir('snap-src'), tempDir('snap-dst')]
  t.teardown(() => dirs.forEach((d) => d.remove()))
  const sourceDb = new Level(dirs[0].path)
  const targetDb = new Level(dirs[1].path)
  t.teardown(async () => {
    await sourceDb.close()
    await targetDb.close()
  })
  const source = await MvccStore.open(sourceDb)
  let index = 0
  for (let batch = 0; batch < 100; batch++) {
    const entries = []
    for (let i = 0; i < 1000; i++) {
      const n = batch * 1000 + i
      const cmd = { type: 'put' as const, key: utf8(`key/${String(n).padStart(6, '0')}`), value: utf8(`value of ${n}`) }
      entries.push({ index: ++index, data: encodeEnvelope({ clientId: 'loader', seq: index, cmd }) })
    }
    await source.apply(entries)
  }
  const snapshot = await source.snapshot()
  let count = 0
  let largest = 0
  async function* measured(): AsyncGenerator<Uint8Array> {
    for await (const chunk of snapshot.chunks) {
      count++
      largest = Math.max(largest, chunk.length)
      yield chunk
    }
  }
  const target = await MvccStore.open(targetDb)
  await target.restore(measured())
  t.ok(count > 10, `${count} chunks`)
  t.ok(largest <= (1 << 20) + 4096, `chunks are bounded (largest ${largest} bytes)`)
  t.equal(target.appliedIndex, 100_000)
  t.equal(target.revision, source.revision)
  const everything = { key: NO_END, rangeEnd: NO_END, countOnly: true }
  t.equal((await target.range(everything)).count, 100_000)
  // Compare the two generations record by record, streaming both.
  const records = (db: LevelDatabase): AsyncIterator<[Uint8Array, Uint8Array]> =>
    (db.sublevel('kv').sublevel('g' + (db === sourceDb ? 1 : 2), { keyEncoding: 'view', valueEncoding: 'view' }).iterator() as AsyncIterable<[Uint8Array, Uint8Array]>)[Symbol.asyncIterator]()
  const a = records(sourceDb)
  const b = records(targetDb)
  let compared = 0
  let mismatch: number | undefined
  for (;;) {
    const [x, y] = await Promise.all([a.next(), b.next()])
    if (x.done === true || y.done === true) {
      if (x.done !== y.done) mismatch = compared
      break
    }
    if (Buffer.compare(x.value[0], y.value[0]) !== 0 || Buffer.compare(x.value[1], y.value[1]) !== 0) {
      mismatch = compared
      break
    }
    compared++
  }
  t.equal(mismatch, undefined, `${compared} records identical`)
  t.ok(compared > 300_000, 'key, rev and hist records of every key')
  const sample = await target.range({ key: utf8('key/054321'), rangeEnd: utf8('key/054324') })
  t.same(
    sample.kvs.map((kv) => new TextDecoder().decode(kv.value)),
    ['value of 54321', 'value of 54322', 'value of 54323'],
  )
})
