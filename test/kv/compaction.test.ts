// Compaction as etcd's: compact(R) refuses revisions <= the compact revision and future ones;
// afterwards reads before R fail, reads at or after R are unchanged, and old versions are
// physically removed (keeping, per key, the latest version at or before R; deletions go).
import t from 'tap'
import { MemoryLevel } from 'memory-level'
import { NO_END } from '../../lib/kv/key-range.js'
import { MvccStore } from '../../lib/kv/mvcc-store.js'
import { Harness, expectType, utf8 } from './helpers.js'
import type { LevelDatabase } from '../../lib/storage/level-database.js'

/** Number of stored versions (records of the `rev` sublevel of the live generation). */
async function versions(db: LevelDatabase): Promise<number> {
  let n = 0
  const rev = db.sublevel('kv').sublevel('g1').sublevel('rev', { keyEncoding: 'view', valueEncoding: 'view' })
  for await (const _ of rev.keys()) n++
  return n
}

t.test('compact refuses an already compacted and a future revision', async (t) => {
  const h = await Harness.memory()
  await h.put('a', '1')
  await h.put('a', '2') // rev 3
  t.same(await h.run({ type: 'compact', revision: 2 }), { type: 'compact', revision: 3, compactRevision: 2 })
  const again = expectType(await h.run({ type: 'compact', revision: 2 }), 'error')
  t.same(again.error, { code: 'COMPACTED', message: again.error.message, compactRevision: 2 })
  const future = expectType(await h.run({ type: 'compact', revision: 4 }), 'error')
  t.equal(future.error.code, 'FUTURE_REVISION')
  t.equal(h.store.compactRevision, 2)
  t.equal(h.store.revision, 3, 'compaction takes no revision')
})

t.test('after compaction, reads at or after the compact revision are unchanged and old versions are gone', async (t) => {
  const db = new MemoryLevel()
  const h = await Harness.on(db)
  await h.put('a', '1') // 2
  await h.put('a', '2') // 3
  await h.put('b', '1') // 4
  await h.del('b') // 5
  await h.put('c', '1') // 6
  await h.del('c') // 7
  await h.put('a', '3') // 8
  const before: string[][] = []
  for (let rev = 5; rev <= 8; rev++) before.push(await h.dump(rev))
  t.equal(await versions(db), 7)
  await h.run({ type: 'compact', revision: 6 })
  // Kept: a@3 (latest a <= 6), c@6, a@8, and c's deletion at 7 (after 6). Gone: a@2, b@4, b's deletion at 5.
  t.equal(await versions(db), 4)
  const after: string[][] = []
  for (let rev = 6; rev <= 8; rev++) after.push(await h.dump(rev))
  t.same(after, before.slice(1))
  await t.rejects(h.store.range({ key: NO_END, rangeEnd: NO_END, revision: 5 }), { code: 'COMPACTED' })
  t.same(await h.get('a', 6), { key: 'a', value: '2', create: 2, mod: 3, version: 2, lease: 0 })
  await h.run({ type: 'compact', revision: 8 })
  t.equal(await versions(db), 1, 'only a@8 is left: c was deleted before 8')
  t.same(await h.dump(8), ['a=3'])
})

t.test('a deletion exactly at the compact revision is kept until the next compaction', async (t) => {
  const db = new MemoryLevel()
  const h = await Harness.on(db)
  await h.put('a', '1') // 2
  await h.del('a') // 3
  await h.run({ type: 'compact', revision: 3 })
  t.equal(await versions(db), 1, 'the deletion at 3')
  await h.put('b', '1') // 4
  await h.run({ type: 'compact', revision: 4 })
  t.equal(await versions(db), 1, 'only b@4')
})

t.test('physical compaction runs in bounded steps, resumes after a restart, and may be deferred', async (t) => {
  const db = new MemoryLevel()
  const h = await Harness.on(db)
  for (let i = 0; i < 50; i++) await h.batch([{ type: 'put', key: utf8(`k${i % 5}`), value: utf8(`${i}`) }])
  const expected = await h.dump()
  await h.batch([{ type: 'compact', revision: h.store.revision }], { deferCompaction: true })
  t.equal(h.store.compactionPending, true)
  t.equal(await versions(db), 50, 'nothing removed yet')
  t.equal(await h.store.runCompaction({ limit: 10, maxSteps: 2 }), 15, 'two steps of 10 versions')
  t.equal(h.store.compactionPending, true)
  t.equal(await versions(db), 35)
  // A "restart": the new store resumes from the progress recorded with the steps.
  const reopened = await MvccStore.open(db)
  t.equal(reopened.compactionPending, true)
  t.equal(await reopened.runCompaction({ limit: 10 }), 30)
  t.equal(reopened.compactionPending, false)
  t.equal(await versions(db), 5)
  t.same(await (await Harness.on(db)).dump(), expected)
})

t.test('compaction interleaved with writes, across several steps, keeps every read at or after the compact revision', async (t) => {
  const db = new MemoryLevel()
  const h = await Harness.on(db)
  for (let i = 0; i < 60; i++) {
    if (i % 7 === 3) await h.del(`k${i % 4}`)
    else await h.put(`k${i % 4}`, `${i}`)
  }
  const compactAt = h.store.revision - 10
  const snapshots: Array<[number, string[]]> = []
  for (let rev = compactAt; rev <= h.store.revision; rev++) snapshots.push([rev, await h.dump(rev)])
  await h.batch([{ type: 'compact', revision: compactAt }], { deferCompaction: true })
  const running = h.store.runCompaction({ limit: 3 })
  await h.put('k9', 'during') // takes the write lock between steps
  await running
  for (const [rev, dump] of snapshots) t.same(await h.dump(rev), dump, `revision ${rev}`)
  t.same((await h.get('k9'))?.value, 'during')
})
