import t from 'tap'
import { threeNodeCluster } from './kit.js'
import type { MetastoreNode } from '../../lib/node/create-node.js'

interface Doc {
  readonly name: string
  readonly n: number
}

function cluster(t: { teardown(fn: () => unknown): void }): Promise<MetastoreNode<Doc>[]> {
  return threeNodeCluster<Doc>(t, 3)
}

t.test('typed values through any node; linearizable reads everywhere', async (t) => {
  const [a, b, c] = await cluster(t)
  const p1 = await b.kv.put('doc/1', { name: 'one', n: 1 })
  const p2 = await c.kv.put('doc/2', { name: 'two', n: 2 }, { prevKv: true })
  t.equal(p2.revision, p1.revision + 1, 'one revision per put')
  t.equal(p2.prevKv, undefined, 'no previous value for a new key')
  const got = await a.kv.get('doc/1')
  t.same(got?.value, { name: 'one', n: 1 }, 'structured values round-trip (msgpack)')
  t.equal(got?.version, 1)
  const p3 = await a.kv.put('doc/1', { name: 'uno', n: 1 }, { prevKv: true })
  t.same(p3.prevKv?.value, { name: 'one', n: 1 }, 'prevKv returns the value replaced')
  const r = await c.kv.range({ prefix: 'doc/' })
  t.same(r.kvs.map((kv) => kv.key), ['doc/1', 'doc/2'])
  t.equal(r.count, 2)
  const old = await b.kv.get('doc/1', { revision: p1.revision })
  t.same(old?.value, { name: 'one', n: 1 }, 'history read at a past revision')
  const d = await b.kv.delete({ prefix: 'doc/' }, { prevKv: true })
  t.equal(d.deleted, 2)
  t.equal(await c.kv.get('doc/2'), undefined, 'deleted everywhere')
  // The node that acknowledged the delete has applied it: even a local read sees it.
  t.equal(await b.kv.get('doc/2', { serializable: true }), undefined, 'a serializable read on the acknowledging node')
})

t.test('a point read names the key as it is stored, also for a string UTF-8 cannot hold', async (t) => {
  const [a] = await cluster(t)
  await a.kv.put('k\uD800', { name: 'lone surrogate', n: 1 })
  const stored = 'k\uFFFD'
  for (const serializable of [false, true]) {
    t.equal((await a.kv.get('k\uD800', { serializable }))?.key, stored, `get (serializable ${serializable})`)
    t.same((await a.kv.range({ start: 'k\uD800', serializable })).kvs.map((kv) => kv.key), [stored], `range of one key (serializable ${serializable})`)
  }
  t.equal((await a.kv.get(stored))?.value.name, 'lone surrogate', 'the same key')
  t.equal((await a.kv.get('doc'))?.key, undefined)
  await a.kv.put('plain', { name: 'p', n: 2 })
  t.equal((await a.kv.get('plain'))?.key, 'plain')
})

t.test('point reads served from the cache hand out copies and follow every write', async (t) => {
  const bytes = { encode: (v: Uint8Array) => v, decode: (b: Uint8Array) => b }
  const [a, b] = await threeNodeCluster<Uint8Array>(t, 5, { codec: bytes })
  const first = await a.kv.put('cached', Uint8Array.of(1, 2, 3))
  for (const node of [a, b]) {
    // Served from the cache: the first read fills it on a follower, the second hits it.
    for (let i = 0; i < 2; i++) {
      const got = await node.kv.get('cached', { serializable: node === a })
      t.same(got?.value, Uint8Array.of(1, 2, 3), `node ${node.id}, read ${i + 1}`)
      t.equal(got?.value.constructor, Uint8Array, 'a plain Uint8Array')
      got!.value.fill(9)
    }
    t.same((await node.kv.get('cached'))?.value, Uint8Array.of(1, 2, 3), `node ${node.id}: a changed result leaves the store as it was`)
  }
  const second = await b.kv.put('cached', Uint8Array.of(4))
  const got = await a.kv.get('cached')
  t.same([got?.value, got?.version, got?.createRevision, got?.modRevision], [Uint8Array.of(4), 2, first.revision, second.revision], 'the next version, fields and all')
  const point = await a.kv.range({ start: 'cached' })
  t.same([point.count, point.revision, point.kvs[0].modRevision], [1, second.revision, second.revision], 'a range of one key, with the revision read with it')
  const del = await a.kv.delete('cached')
  t.equal(await a.kv.get('cached'), undefined, 'absent after a delete')
  t.same(await a.kv.range({ start: 'cached' }), { kvs: [], count: 0, more: false, revision: del.revision }, 'an empty range of one key')
  await t.rejects(a.kv.get('k'.repeat(2000)), { code: 'TOO_LARGE' }, 'an oversized ASCII key is refused on the short path too')
  await t.rejects(a.kv.get(42 as unknown as string), TypeError, 'a key that is not a string')
  await a.close()
  await t.rejects(a.kv.get('cached', { serializable: true }), { code: 'CLOSED' }, 'a closed node refuses point reads')
})

t.test('transactions: compare-and-swap decided once', async (t) => {
  const [a, b, c] = await cluster(t)
  await a.kv.put('counter', { name: 'c', n: 0 })
  const bump = async (node: MetastoreNode<Doc>) => {
    for (;;) {
      const cur = await node.kv.get('counter')
      const r = await node.kv.txn({
        compare: [{ key: 'counter', target: 'modRevision', op: '=', value: cur!.modRevision }],
        success: [{ put: { key: 'counter', value: { name: 'c', n: cur!.value.n + 1 } } }],
      })
      if (r.succeeded) return
    }
  }
  await Promise.all([a, b, c, a, b, c].map((n) => bump(n)))
  t.equal((await b.kv.get('counter'))?.value.n, 6, 'no lost update among 6 concurrent increments')
})

t.test('errors carry codes', async (t) => {
  const [a] = await cluster(t)
  await t.rejects(a.kv.put('k'.repeat(2000), { name: 'x', n: 0 }), { code: 'TOO_LARGE' }, 'oversized key')
  await t.rejects(a.kv.put('big', { name: 'x'.repeat(2 * 1024 * 1024), n: 0 }), { code: 'TOO_LARGE' }, 'oversized value')
  const w1 = await a.kv.put('h', { name: 'a', n: 1 })
  await a.kv.put('h', { name: 'b', n: 2 })
  await a.kv.compact(w1.revision + 1)
  await t.rejects(a.kv.get('h', { revision: w1.revision }), { code: 'COMPACTED' }, 'reading compacted history')
  await t.rejects(a.kv.put('l', { name: 'x', n: 0 }, { lease: 12345 }), { code: 'LEASE_NOT_FOUND' }, 'unknown lease')
  await t.rejects(a.kv.get(''), TypeError, 'an empty key is a TypeError (no code)')
})

t.test('membership and status', async (t) => {
  const [a] = await cluster(t)
  t.same(a.members().map((m) => [m.id, m.role]), [[1, 'voter'], [2, 'voter'], [3, 'voter']])
  const st = a.status()
  t.ok(st.leader > 0, 'knows a leader')
  await a.kv.put('x', { name: 'x', n: 1 })
  t.ok(a.status().revision >= 2, 'reports the revision')
  t.equal(a.status().commitIndex >= a.status().appliedIndex, true, 'commit index is at least the applied index')
  const added = await a.addLearner(4, { address: 'mem://4' })
  t.same(added.find((m) => m.id === 4), { id: 4, role: 'learner', address: 'mem://4' }, 'the learner and its address')
  const back = await a.remove(4)
  t.equal(back.find((m) => m.id === 4), undefined, 'removed')
  await a.close()
  await t.rejects(a.kv.put('y', { name: 'y', n: 1 }), { code: 'CLOSED' }, 'a closed node refuses work')
})
