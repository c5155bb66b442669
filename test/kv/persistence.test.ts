// Restart from LevelDB: the applied index, revisions, compaction, leases and the dedup table
// come back from disk, and entries already applied are not applied again.
import t from 'tap'
import { Level } from 'level'
import { encodeEnvelope } from '../../lib/kv/codec.js'
import { MvccStore } from '../../lib/kv/mvcc-store.js'
import { encodeHead } from '../../lib/kv/records.js'
import { Harness, tempDir, utf8 } from './helpers.js'

t.test('a store reopened from LevelDB resumes where it was, without replaying', async (t) => {
  const dir = tempDir('restart')
  t.teardown(() => dir.remove())
  const db = new Level(dir.path)
  const h = await Harness.on(db)
  await h.run({ type: 'leaseGrant', id: 1, ttlSeconds: 30 })
  await h.run({ type: 'leaseCheckpoint', checkpoints: [{ id: 1, remainingTtlMs: 7_000 }] })
  for (let i = 0; i < 20; i++) await h.put(`k${i % 3}`, `${i}`, i === 19 ? { lease: 1 } : {})
  await h.run({ type: 'compact', revision: 10 })
  const retry = h.entry({ type: 'put', key: utf8('late'), value: utf8('x') }, 'retrying-client')
  await h.store.apply([retry])
  const before = { applied: h.store.appliedIndex, revision: h.store.revision, dump: await h.dump(), at15: await h.dump(15) }
  await db.close()

  const reopenedDb = new Level(dir.path)
  t.teardown(() => reopenedDb.close())
  const store = await MvccStore.open(reopenedDb)
  t.equal(store.appliedIndex, before.applied)
  t.equal(store.revision, before.revision)
  t.equal(store.compactRevision, 10)
  t.equal(store.compactionPending, false)
  const h2 = new Harness(store, reopenedDb)
  t.same(await h2.dump(), before.dump)
  t.same(await h2.dump(15), before.at15)
  await t.rejects(h2.dump(9), { code: 'COMPACTED' })
  t.same(await store.leases(), [{ id: 1, ttlSeconds: 30, remainingTtlMs: 7_000, keys: [utf8('k1')] }])
  // The driver hands over the log from an index it is not sure was applied: those are skipped.
  const replay = await store.apply([{ ...retry }])
  t.same(replay.results, [], 'an entry at the applied index is not applied again')
  // The same request re-proposed at a new index is answered from the dedup table.
  const again = await store.apply([{ index: retry.index + 1, data: retry.data }])
  t.equal(again.results[0].duplicate, true)
  t.equal(store.revision, before.revision)
})

t.test('a batch prepared but never written leaves nothing: a restart finds the previous batch', async (t) => {
  const dir = tempDir('atomic')
  t.teardown(() => dir.remove())
  const db = new Level(dir.path)
  const store = await MvccStore.open(db)
  const entry = (index: number, key: string): { index: number; data: Uint8Array } => ({
    index,
    data: encodeEnvelope({ clientId: 'c', seq: index, cmd: { type: 'put', key: utf8(key), value: utf8('v') } }),
  })
  await store.apply([entry(1, 'a'), entry(2, 'b')])
  const prepared = await store.prepare([entry(3, 'c'), entry(4, 'd')])
  t.ok(prepared.ops.length >= 8, 'several writes in the batch')
  store.discard(prepared) // the process "dies" before writing it
  await db.close()
  const reopenedDb = new Level(dir.path)
  t.teardown(() => reopenedDb.close())
  const reopened = await MvccStore.open(reopenedDb)
  t.equal(reopened.appliedIndex, 2)
  t.equal(reopened.revision, 3)
  t.equal(await reopened.get(utf8('c')), undefined)
  const { results } = await reopened.apply([entry(3, 'c'), entry(4, 'd')])
  t.same(
    results.map((r) => r.result.type === 'put' && r.result.revision),
    [4, 5],
  )
})

t.test('two stores share one database under different prefixes', async (t) => {
  const dir = tempDir('prefix')
  t.teardown(() => dir.remove())
  const db = new Level(dir.path)
  t.teardown(() => db.close())
  const one = await MvccStore.open(db, { prefix: 'one' })
  const two = await MvccStore.open(db, { prefix: 'two' })
  await one.apply([{ index: 1, data: encodeEnvelope({ clientId: '', seq: 0, cmd: { type: 'put', key: utf8('k'), value: utf8('1') } }) }])
  t.equal(two.appliedIndex, 0)
  t.equal(await two.get(utf8('k')), undefined)
  t.equal((await one.get(utf8('k')))?.version, 1)
})

t.test('open() clears generations a crashed restore left behind, and keeps the live one', async (t) => {
  const dir = tempDir('leftover')
  t.teardown(() => dir.remove())
  const db = new Level(dir.path)
  t.teardown(() => db.close())
  const h = await Harness.on(db)
  await h.put('live', 'yes')
  const root = db.sublevel('kv', { keyEncoding: 'view', valueEncoding: 'view' })
  // As a restore that died after recording its target generation and writing part of it.
  const junk = root.sublevel('g7', { keyEncoding: 'utf8', valueEncoding: 'utf8' })
  await junk.put('partial', 'data')
  await root.sublevel<string, Uint8Array>('head', { keyEncoding: 'utf8', valueEncoding: 'view' }).put('head', encodeHead({ current: 1, pending: [7] }))
  const reopened = await MvccStore.open(db)
  t.same(await junk.keys().all(), [], 'the partial generation is gone')
  t.same((await reopened.get(utf8('live')))?.version, 1, 'the live state is intact')
  const again = await MvccStore.open(db)
  t.equal(again.appliedIndex, h.store.appliedIndex)
})
