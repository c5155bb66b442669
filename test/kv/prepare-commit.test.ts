// The lower-level batch API: prepare() computes the operations without writing, commit()
// writes them (with the caller's extra operations) in one atomic batch, committed() adopts a
// batch the caller wrote itself, discard() drops one. The write lock serializes batches.
import t from 'tap'
import { MemoryLevel } from 'memory-level'
import { encodeEnvelope } from '../../lib/kv/codec.js'
import { MvccStore } from '../../lib/kv/mvcc-store.js'
import { utf8 } from './helpers.js'
import type { LevelDatabase } from '../../lib/storage/level-database.js'

const put = (seq: number, key: string): { index: number; data: Uint8Array } => ({
  index: seq,
  data: encodeEnvelope({ clientId: 'c', seq, cmd: { type: 'put', key: utf8(key), value: utf8(`${seq}`) } }),
})

t.test('prepare writes nothing; commit writes the batch and the extra operations atomically', async (t) => {
  const db = new MemoryLevel()
  const store = await MvccStore.open(db)
  const log = db.sublevel('log')
  const prepared = await store.prepare([put(1, 'a'), put(2, 'b')])
  t.equal(prepared.appliedIndex, 2)
  t.equal(prepared.meta.revision, 3)
  t.same(
    prepared.results.map((r) => r.result.type),
    ['put', 'put'],
  )
  t.equal(store.appliedIndex, 0, 'nothing applied yet')
  t.equal(await store.get(utf8('a')), undefined, 'nothing visible yet')
  await store.commit(prepared, { extraOps: [{ type: 'put', sublevel: log, key: 'hard-state', value: 'term 3' }] })
  t.equal(store.appliedIndex, 2)
  t.equal(await log.get('hard-state'), 'term 3')
  t.ok(await store.get(utf8('b')))
  t.equal((await MvccStore.open(db)).appliedIndex, 2)
})

t.test('committed() adopts a batch the caller wrote itself; discard() drops one', async (t) => {
  const db = new MemoryLevel()
  const store = await MvccStore.open(db)
  const prepared = await store.prepare([put(1, 'a')])
  await (db as LevelDatabase).batch([...prepared.ops, { type: 'put', key: 'other', value: 'x' }])
  store.committed(prepared)
  t.equal(store.appliedIndex, 1)
  const dropped = await store.prepare([put(2, 'b')])
  store.discard(dropped)
  t.equal(store.appliedIndex, 1)
  t.equal(await store.get(utf8('b')), undefined)
  t.throws(() => store.discard(dropped), TypeError, 'a batch is settled once')
  const again = await store.apply([put(2, 'b')])
  t.equal(again.appliedIndex, 2)
})

t.test('a second prepare waits for the first batch to be settled', async (t) => {
  const db = new MemoryLevel()
  const store = await MvccStore.open(db)
  const first = await store.prepare([put(1, 'a')])
  let secondDone = false
  const second = store.apply([put(2, 'b')]).then((r) => {
    secondDone = true
    return r
  })
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(secondDone, false, 'waiting on the lock')
  await store.commit(first)
  const result = await second
  t.equal(result.results[0].result.type === 'put' && result.results[0].result.revision, 3, 'built on the first batch')
})

t.test('a failed write leaves the store as it was', async (t) => {
  const db = new MemoryLevel()
  const store = await MvccStore.open(db)
  await store.apply([put(1, 'a')])
  const prepared = await store.prepare([put(2, 'b')])
  // An operation the database refuses (a key of the wrong type) makes the whole batch fail.
  await t.rejects(store.commit(prepared, { extraOps: [{ type: 'put', key: undefined as unknown as string, value: 'x' }] }))
  t.equal(store.appliedIndex, 1)
  t.equal(await store.get(utf8('b')), undefined)
  const retried = await store.apply([put(2, 'b')])
  t.equal(retried.appliedIndex, 2, 'the lock was released')
})

t.test('a closed store refuses work with CLOSED', async (t) => {
  const store = await MvccStore.open(new MemoryLevel())
  await store.close()
  await t.rejects(store.apply([put(1, 'a')]), { code: 'CLOSED' })
  await t.rejects(store.range({ key: utf8('a') }), { code: 'CLOSED' })
})
