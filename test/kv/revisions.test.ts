// Revisions and versions as etcd v3 keeps them (etcd docs: "KV API guarantees", data model):
// a store starts at revision 1; every write that changes something takes the next revision;
// each key has a create revision, a mod revision and a version that counts puts since creation.
import t from 'tap'
import { Harness, eventLines, expectType, kv, utf8 } from './helpers.js'

t.test('a new store is at revision 1 and a put takes revision 2, version 1', async (t) => {
  const h = await Harness.memory()
  t.equal(h.store.revision, 1)
  const put = expectType(await h.put('a', '1'), 'put')
  t.equal(put.revision, 2)
  t.same(await h.get('a'), { key: 'a', value: '1', create: 2, mod: 2, version: 1, lease: 0 })
})

t.test('each put bumps the revision and the version, even with the same value; create stays', async (t) => {
  const h = await Harness.memory()
  await h.put('a', '1')
  await h.put('b', 'x')
  await h.put('a', '1')
  t.equal(h.store.revision, 4)
  t.same(await h.get('a'), { key: 'a', value: '1', create: 2, mod: 4, version: 2, lease: 0 })
})

t.test('a delete takes a revision, and recreating the key starts again at version 1', async (t) => {
  const h = await Harness.memory()
  await h.put('a', '1')
  await h.put('a', '2')
  const del = expectType(await h.del('a'), 'deleteRange')
  t.equal(del.deleted, 1)
  t.equal(del.revision, 4)
  t.equal(await h.get('a'), undefined)
  await h.put('a', '3')
  t.same(await h.get('a'), { key: 'a', value: '3', create: 5, mod: 5, version: 1, lease: 0 })
})

t.test('a delete that deletes nothing does not bump the revision', async (t) => {
  const h = await Harness.memory()
  await h.put('a', '1')
  const del = expectType(await h.del('zzz'), 'deleteRange')
  t.equal(del.deleted, 0)
  t.equal(del.revision, 2, 'answers with the current revision')
  t.equal(h.store.revision, 2)
  const range = expectType(await h.del('b', 'c'), 'deleteRange')
  t.equal(range.deleted, 0)
  t.equal(h.store.revision, 2)
})

t.test('prevKv on put and delete returns the previous key-value, only when asked', async (t) => {
  const h = await Harness.memory()
  const first = expectType(await h.put('a', '1', { prevKv: true }), 'put')
  t.equal(first.prevKv, undefined, 'nothing before the first put')
  const second = expectType(await h.put('a', '2', { prevKv: true }), 'put')
  t.same(kv(second.prevKv!), { key: 'a', value: '1', create: 2, mod: 2, version: 1, lease: 0 })
  const third = expectType(await h.put('a', '3'), 'put')
  t.notOk('prevKv' in third, 'not returned unless asked')
  const del = expectType(await h.del('a', undefined, true), 'deleteRange')
  t.same(del.prevKvs!.map(kv), [{ key: 'a', value: '3', create: 2, mod: 4, version: 3, lease: 0 }])
})

t.test('a range delete takes one revision with one sub-revision per key, in key order', async (t) => {
  const h = await Harness.memory()
  for (const key of ['a/2', 'a/1', 'a/3', 'b']) await h.put(key, key)
  const { result, events } = await h.runWithEvents({ type: 'deleteRange', key: utf8('a/'), rangeEnd: utf8('a0') })
  t.equal(expectType(result, 'deleteRange').deleted, 3)
  t.same(eventLines(events), [['6:delete a/1@6', '6:delete a/2@6', '6:delete a/3@6']])
  t.same(await h.dump(), ['b=b'])
})

t.test('ignoreValue and ignoreLease keep the current value or lease, and need the key to exist', async (t) => {
  const h = await Harness.memory()
  await h.run({ type: 'leaseGrant', id: 7, ttlSeconds: 10 })
  await h.put('a', 'v', { lease: 7 })
  await h.run({ type: 'put', key: utf8('a'), ignoreValue: true, lease: 0 })
  t.same(await h.get('a'), { key: 'a', value: 'v', create: 2, mod: 3, version: 2, lease: 0 }, 'value kept, lease dropped')
  await h.run({ type: 'leaseGrant', id: 8, ttlSeconds: 10 })
  await h.put('a', 'w', { lease: 8 })
  await h.run({ type: 'put', key: utf8('a'), value: utf8('x'), ignoreLease: true })
  t.same(await h.get('a'), { key: 'a', value: 'x', create: 2, mod: 5, version: 4, lease: 8 }, 'lease kept')
  const missing = expectType(await h.run({ type: 'put', key: utf8('nope'), ignoreValue: true }), 'error')
  t.equal(missing.error.code, 'KEY_NOT_FOUND')
  t.equal(h.store.revision, 5, 'a refused put takes no revision')
})

t.test('a put on a lease that does not exist fails with LEASE_NOT_FOUND and changes nothing', async (t) => {
  const h = await Harness.memory()
  const result = expectType(await h.put('a', '1', { lease: 99 }), 'error')
  t.equal(result.error.code, 'LEASE_NOT_FOUND')
  t.equal(result.error.leaseId, 99)
  t.equal(h.store.revision, 1)
  t.equal(await h.get('a'), undefined)
})

t.test('binary keys and values, including zero bytes, round-trip and sort as bytes', async (t) => {
  const h = await Harness.memory()
  const keys = [Uint8Array.of(0), Uint8Array.of(0, 0), Uint8Array.of(0, 1), Uint8Array.of(1), Uint8Array.of(0xff, 0), Uint8Array.of(0xff)]
  for (const key of [...keys].reverse()) await h.run({ type: 'put', key, value: key })
  await h.run({ type: 'put', key: Uint8Array.of(0, 0), value: Uint8Array.of(9) })
  const { kvs } = await h.store.range({ key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0) })
  t.same(
    kvs.map((item) => Array.from(item.key)),
    [[0], [0, 0], [0, 1], [1], [0xff], [0xff, 0]],
  )
  // The history index escapes zero bytes; reading an old revision must tell [0] from [0, 0].
  const old = await h.store.range({ key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0), revision: 7 })
  t.same(
    old.kvs.map((item) => [Array.from(item.key), Array.from(item.value)]),
    keys.map((key) => [Array.from(key), Array.from(key)]).sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0]))),
  )
  t.same(Array.from((await h.store.get(Uint8Array.of(0, 0)))!.value), [9])
})
