// Staged snapshots: a stream is written beside the live state (which keeps taking batches),
// survives a restart once checked, and becomes the live state only by install(). A stream that
// breaks or fails its checks leaves nothing behind.
import t from 'tap'
import { Level } from 'level'
import { MemoryLevel } from 'memory-level'
import { NO_END } from '../../lib/kv/key-range.js'
import { MvccStore } from '../../lib/kv/mvcc-store.js'
import { InvalidSnapshotError } from '../../lib/kv/errors.js'
import { Harness, rawRecords, tempDir, text } from './helpers.js'
import type { LevelDatabase } from '../../lib/storage/level-database.js'

async function collect(iterable: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const chunk of iterable) out.push(chunk)
  return out
}

async function values(store: MvccStore): Promise<string[]> {
  const { kvs } = await store.range({ key: NO_END, rangeEnd: NO_END })
  return kvs.map((kv) => `${text(kv.key)}=${text(kv.value)}`)
}

/** The generations that hold records under the store's root. */
async function generations(db: LevelDatabase): Promise<number[]> {
  const ids = new Set<number>()
  for (const [hex] of await rawRecords(db)) {
    const m = /^!kv!!g(\d+)!/.exec(Buffer.from(hex, 'hex').toString('latin1'))
    if (m) ids.add(Number(m[1]))
  }
  return [...ids].sort((a, b) => a - b)
}

async function source(n: number): Promise<Harness> {
  const h = await Harness.memory()
  for (let i = 0; i < n; i++) await h.put(`s/${i % 7}`, `v${i}`)
  return h
}

t.test('a staged snapshot leaves the live state alone until installed', async (t) => {
  const src = await source(30)
  const chunks = await collect(await src.store.snapshotChunks({ chunkBytes: 128 }))
  const db = new MemoryLevel()
  const dst = await Harness.on(db)
  await dst.put('mine', 'before')
  const staged = await dst.store.stage(chunks)
  t.equal(staged.appliedIndex, src.store.appliedIndex, 'the staged header is the source state')
  t.equal(dst.store.stagedId, staged.id)
  // The live state still reads and writes as before.
  await dst.put('mine', 'during')
  t.same(await values(dst.store), ['mine=during'])
  await t.rejects(dst.store.install(staged.id + 1), InvalidSnapshotError, 'only the staged one installs')
  await dst.store.install(staged.id)
  t.same(await values(dst.store), await values(src.store), 'installed: the source state')
  t.equal(dst.store.appliedIndex, src.store.appliedIndex)
  t.equal(dst.store.stagedId, undefined)
  t.same(await generations(db), [staged.id], 'the old generation is cleared')
})

t.test('a staged snapshot survives a restart; a partial one does not', async (t) => {
  const tmp = tempDir('staged')
  t.teardown(() => tmp.remove())
  const dir = tmp.path
  const src = await source(50)
  const chunks = await collect(await src.store.snapshotChunks({ chunkBytes: 128 }))
  t.ok(chunks.length > 4, 'several chunks')

  let db: LevelDatabase = new Level(dir, { keyEncoding: 'view', valueEncoding: 'view' })
  let store = await MvccStore.open(db)
  const staged = await store.stage(chunks)
  await db.close()

  db = new Level(dir, { keyEncoding: 'view', valueEncoding: 'view' })
  store = await MvccStore.open(db)
  t.equal(store.stagedId, staged.id, 'still staged after the restart')
  t.equal(store.appliedIndex, 0, 'and still not live')

  // A stream that breaks half-way: nothing staged replaces the earlier one, and its records go.
  async function* broken(): AsyncGenerator<Uint8Array> {
    yield* chunks.slice(0, 3)
    throw new Error('connection lost')
  }
  await t.rejects(store.stage(broken()), /connection lost/)
  t.equal(store.stagedId, undefined, 'a new stage drops the earlier staged snapshot')
  t.same(await generations(db), [1], 'and leaves no records behind (1 is the live state)')

  // A crash half-way (the database closes under it): the next open clears the partial copy.
  async function* slow(): AsyncGenerator<Uint8Array> {
    yield* chunks.slice(0, 3)
    await db.close()
    yield* chunks.slice(3)
  }
  await t.rejects(store.stage(slow()))
  db = new Level(dir, { keyEncoding: 'view', valueEncoding: 'view' })
  store = await MvccStore.open(db)
  t.equal(store.stagedId, undefined)
  t.same(await generations(db), [1], 'only the live generation is left')
  await db.close()
})

t.test('a damaged stream is refused before it is staged', async (t) => {
  const src = await source(20)
  const chunks = await collect(await src.store.snapshotChunks({ chunkBytes: 128 }))
  const dst = await Harness.memory()
  const dropped = [...chunks.slice(0, 2), ...chunks.slice(3)]
  await t.rejects(dst.store.stage(dropped), InvalidSnapshotError, 'a missing chunk fails the count or checksum')
  await t.rejects(dst.store.stage(chunks.slice(0, -1)), InvalidSnapshotError, 'a missing end chunk')
  t.equal(dst.store.stagedId, undefined)
  t.same(await generations(dst.db), [1], 'nothing is left of either (1 is the live state)')
})

t.test('staging again replaces the staged snapshot; discardStaged drops it', async (t) => {
  const a = await collect(await (await source(10)).store.snapshotChunks())
  const b = await collect(await (await source(25)).store.snapshotChunks())
  const dst = await Harness.memory()
  const first = await dst.store.stage(a)
  const second = await dst.store.stage(b)
  t.not(first.id, second.id)
  t.equal(dst.store.stagedId, second.id)
  t.same(await generations(dst.db), [1, second.id], 'the first staged copy is cleared')
  await dst.store.discardStaged(first.id)
  t.equal(dst.store.stagedId, second.id, 'discarding another id does nothing')
  await dst.store.discardStaged(second.id)
  t.equal(dst.store.stagedId, undefined)
  t.same(await generations(dst.db), [1])
  await t.rejects(dst.store.install(second.id), InvalidSnapshotError, 'a discarded snapshot cannot be installed')
})
