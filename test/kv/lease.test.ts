// Leases as replicated state: granted with an id the leader picks, keys attached by put,
// revoked or expired (by command: time never enters the store) deleting their keys in one
// revision, remaining TTLs checkpointed so that a new leader does not reset them (etcd#9395).
import t from 'tap'
import { MemoryLevel } from 'memory-level'
import { MvccStore } from '../../lib/kv/mvcc-store.js'
import { Harness, eventLines, expectType, text, utf8 } from './helpers.js'

t.test('grant, list and refuse a duplicate id', async (t) => {
  const h = await Harness.memory()
  const granted = expectType(await h.run({ type: 'leaseGrant', id: 10, ttlSeconds: 30 }), 'leaseGrant')
  t.same(granted, { type: 'leaseGrant', revision: 1, id: 10, ttlSeconds: 30 }, 'a grant takes no revision')
  const dup = expectType(await h.run({ type: 'leaseGrant', id: 10, ttlSeconds: 5 }), 'error')
  t.equal(dup.error.code, 'LEASE_EXISTS')
  t.same(await h.store.leases(), [{ id: 10, ttlSeconds: 30, remainingTtlMs: 30_000, keys: [] }])
})

t.test('keys attach to a lease on put, move on a put with another lease, and detach on delete', async (t) => {
  const h = await Harness.memory()
  await h.run({ type: 'leaseGrant', id: 1, ttlSeconds: 10 })
  await h.run({ type: 'leaseGrant', id: 2, ttlSeconds: 10 })
  await h.put('a', 'x', { lease: 1 })
  await h.put('b', 'x', { lease: 1 })
  await h.put('c', 'x', { lease: 2 })
  await h.put('b', 'y', { lease: 2 })
  await h.del('c')
  const keysOf = async (id: number): Promise<string[]> => ((await h.store.lease(id))?.keys ?? []).map(text)
  t.same(await keysOf(1), ['a'])
  t.same(await keysOf(2), ['b'])
  await h.put('a', 'z')
  t.same(await keysOf(1), [], 'a put without a lease detaches')
})

t.test('revoke deletes the attached keys in one revision, in key order, and the lease', async (t) => {
  const h = await Harness.memory()
  await h.run({ type: 'leaseGrant', id: 3, ttlSeconds: 10 })
  await h.put('s/2', 'x', { lease: 3 }) // rev 2
  await h.put('s/1', 'x', { lease: 3 }) // rev 3
  await h.put('other', 'x') // rev 4
  const { result, events } = await h.runWithEvents({ type: 'leaseRevoke', id: 3 })
  t.same(result, { type: 'leaseRevoke', revision: 5, deleted: 2 })
  t.same(eventLines(events), [['5:delete s/1@5', '5:delete s/2@5']])
  t.same(await h.dump(), ['other=x'])
  t.equal(await h.store.lease(3), undefined)
  const again = expectType(await h.run({ type: 'leaseRevoke', id: 3 }), 'error')
  t.equal(again.error.code, 'LEASE_NOT_FOUND')
  const put = expectType(await h.put('late', 'x', { lease: 3 }), 'error')
  t.equal(put.error.code, 'LEASE_NOT_FOUND', 'a revoked lease takes no keys')
})

t.test('revoking a lease without keys takes no revision', async (t) => {
  const h = await Harness.memory()
  await h.run({ type: 'leaseGrant', id: 3, ttlSeconds: 10 })
  t.same(await h.run({ type: 'leaseRevoke', id: 3 }), { type: 'leaseRevoke', revision: 1, deleted: 0 })
})

t.test('expire revokes each lease that still exists, each in its own revision', async (t) => {
  const h = await Harness.memory()
  for (const id of [1, 2, 3]) await h.run({ type: 'leaseGrant', id, ttlSeconds: 10 })
  await h.put('k1', 'x', { lease: 1 }) // 2
  await h.put('k2', 'x', { lease: 2 }) // 3
  await h.run({ type: 'leaseRevoke', id: 3 })
  const { result, events } = await h.runWithEvents({ type: 'leaseExpire', ids: [2, 3, 1, 99] })
  t.same(result, { type: 'leaseExpire', revision: 5, expired: [2, 1] })
  t.same(eventLines(events), [['4:delete k2@4'], ['5:delete k1@5']])
  t.same(await h.store.leases(), [])
})

t.test('checkpoints record the remaining TTL, survive a restart, and skip leases that are gone', async (t) => {
  const db = new MemoryLevel()
  const h = await Harness.on(db)
  await h.run({ type: 'leaseGrant', id: 4, ttlSeconds: 60 })
  await h.run({ type: 'leaseGrant', id: 5, ttlSeconds: 60 })
  await h.put('held', 'x', { lease: 5 })
  const result = await h.run({ type: 'leaseCheckpoint', checkpoints: [{ id: 4, remainingTtlMs: 12_345 }, { id: 77, remainingTtlMs: 1 }] })
  t.same(result, { type: 'leaseCheckpoint', revision: 2 })
  const reopened = await MvccStore.open(db)
  t.same(await reopened.leases(), [
    { id: 4, ttlSeconds: 60, remainingTtlMs: 12_345, keys: [] },
    { id: 5, ttlSeconds: 60, remainingTtlMs: 60_000, keys: [utf8('held')] },
  ])
})
