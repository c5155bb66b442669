// The record cache in front of point reads and of the read-modify-write of puts: whatever it
// serves must be what the database holds at the store's revision, through concurrent reads and
// writes, deletes, leases, evictions, restores and failed writes.
import t from 'tap'
import { MemoryLevel } from 'memory-level'
import { encodeEnvelope } from '../../lib/kv/codec.js'
import { MvccStore } from '../../lib/kv/mvcc-store.js'
import { ENTRY_OVERHEAD, FIELDS_OVERHEAD, keyId, RecordCache } from '../../lib/kv/record-cache.js'
import { encodeCurrent } from '../../lib/kv/records.js'
import { Harness, text, utf8 } from './helpers.js'

t.test('RecordCache: bounded by bytes, coldest first, null for absent keys', async (t) => {
  const bound = 10 * (3 + 100 + ENTRY_OVERHEAD)
  const cache = new RecordCache(bound)
  for (let i = 0; i < 100; i++) cache.set('key', utf8(`k${i}`), new Uint8Array(100))
  t.ok(cache.bytes <= bound, `within its bound (${cache.bytes} bytes)`)
  t.ok(cache.size > 0 && cache.size < 100, `kept the newest (${cache.size} entries)`)
  t.equal(cache.get('key', utf8('k0')), undefined, 'the oldest went')
  t.same(cache.get('key', utf8('k99')), new Uint8Array(100), 'the newest stayed')
  cache.set('key', utf8('gone'), null)
  t.equal(cache.get('key', utf8('gone')), null, 'absent is remembered as null')
  t.equal(cache.get('dedup', utf8('gone')), undefined, 'sublevels are apart')
  const off = new RecordCache(0)
  off.set('key', utf8('k'), utf8('v'))
  t.equal(off.get('key', utf8('k')), undefined, 'a zero bound keeps nothing')
  t.throws(() => new RecordCache(-1), TypeError)
})

t.test('RecordCache: an entry read since it was set gets a second chance before eviction', async (t) => {
  // Each entry is charged 3 + 100 + ENTRY_OVERHEAD bytes: five fit, six do not.
  const cache = new RecordCache(5.5 * (3 + 100 + ENTRY_OVERHEAD))
  for (let i = 0; i < 5; i++) cache.set('key', utf8(`k${i}`), new Uint8Array(100))
  t.ok(cache.get('key', utf8('k0')), 'k0 is read')
  cache.set('key', utf8('k5'), new Uint8Array(100))
  t.ok(cache.get('key', utf8('k0')) !== undefined, 'the coldest entry, read since it was set, stayed')
  t.equal(cache.get('key', utf8('k1')), undefined, 'the next coldest, never read, went instead')
  t.equal(cache.size, 5)
  const copy = cache.get('key', utf8('k5'))!
  copy[0] = 42
  t.equal(cache.get('key', utf8('k5'))![0], 0, 'what a read returns is a copy')
  cache.set('key', utf8('d'), utf8('key sublevel'))
  cache.set('dedup', utf8('d'), utf8('dedup sublevel'))
  t.equal(text(cache.get('key', utf8('d'))!), 'key sublevel')
  t.equal(text(cache.get('dedup', utf8('d'))!), 'dedup sublevel', 'the same key in two sublevels is two entries')
})

t.test('RecordCache: decoded fields count toward the bound', async (t) => {
  const record = (i: number): Uint8Array => encodeCurrent({ key: utf8(`k${i}`), value: utf8(`v${i}`), createRevision: 2, modRevision: 2, version: 1, lease: 0 })
  const each = 2 + record(0).length + ENTRY_OVERHEAD
  const cache = new RecordCache(3 * each)
  for (let i = 0; i < 3; i++) cache.set('key', utf8(`k${i}`), record(i))
  t.equal(cache.size, 3, 'three records fit undecoded')
  t.equal(text(cache.current('k0')!.value), 'v0', 'k0 decodes')
  t.ok(cache.bytes <= 3 * each, `still within its bound once k0 is decoded (${cache.bytes} bytes)`)
  t.equal(cache.size, 2, 'one entry went to make room for the fields')
  t.equal(cache.current('k1'), undefined, 'the coldest unread one (k1)')
  t.equal(text(cache.current('k0')!.value), 'v0', 'k0, just read, stayed')
})

t.test('RecordCache: a key record decoded once for point reads, and again after it is set', async (t) => {
  const cache = new RecordCache()
  const key = utf8('point')
  t.equal(keyId(key), 'point', 'an ASCII key is its own id')
  t.equal(cache.current('point'), undefined, 'not cached')
  cache.set('key', key, encodeCurrent({ key, value: utf8('v1'), createRevision: 2, modRevision: 3, version: 2, lease: 0 }))
  const record = encodeCurrent({ key, value: utf8('v1'), createRevision: 2, modRevision: 3, version: 2, lease: 0 })
  t.equal(cache.bytes, key.length + record.length + ENTRY_OVERHEAD, 'an entry is charged its key, its record and the overhead')
  const first = cache.current('point')!
  t.equal(cache.bytes, key.length + record.length + ENTRY_OVERHEAD + FIELDS_OVERHEAD, 'and its fields once decoded')
  t.same([text(first.value), first.createRevision, first.modRevision, first.version, first.lease], ['v1', 2, 3, 2, 0])
  t.equal(cache.current('point'), first, 'decoded once')
  t.equal(cache.current(keyId(utf8('\u00e9'))), undefined, 'a non-ASCII key by its latin1 id')
  cache.set('key', key, encodeCurrent({ key, value: utf8('v2'), createRevision: 2, modRevision: 4, version: 3, lease: 0 }))
  t.same([text(cache.current('point')!.value), cache.current('point')!.modRevision], ['v2', 4], 'a new record is decoded anew')
  cache.set('key', key, null)
  t.equal(cache.current('point'), null, 'known absent')
  cache.set('dedup', utf8('other'), utf8('x'))
  t.equal(cache.current('other'), undefined, 'dedup records are not key records')
})

for (const cacheBytes of [undefined, 0, 2000]) {
  t.test(`reads match a model through puts, deletes and leases (cacheBytes ${cacheBytes ?? 'default'})`, async (t) => {
    const db = new MemoryLevel()
    const h = new Harness(await MvccStore.open(db, { cacheBytes }), db)
    const model = new Map<string, string>()
    await h.run({ type: 'leaseGrant', id: 7, ttlSeconds: 60 })
    for (let i = 0; i < 300; i++) {
      const key = `k${i % 37}`
      if (i % 11 === 0) {
        await h.del(key)
        model.delete(key)
      } else {
        await h.put(key, `v${i}`, i % 7 === 0 ? { lease: 7 } : {})
        model.set(key, `v${i}`)
      }
      if (i % 5 === 0) {
        for (let k = 0; k < 37; k++) t.equal((await h.get(`k${k}`))?.value, model.get(`k${k}`), `k${k} after op ${i}`)
      }
    }
    // Revoking the lease deletes its keys: the cache must not keep them.
    const { kvs } = await h.store.range({ key: utf8('k'), rangeEnd: utf8('l') })
    const leased = kvs.filter((kv) => kv.lease === 7).map((kv) => text(kv.key))
    await h.run({ type: 'leaseRevoke', id: 7 })
    for (const key of leased) t.equal(await h.get(key), undefined, `${key} went with its lease`)
  })
}

t.test('concurrent point reads during writes never show a record newer than their revision, nor an old one after', async (t) => {
  const db = new MemoryLevel()
  const h = new Harness(await MvccStore.open(db), db)
  await h.put('hot', 'v0')
  let checked = 0
  let lastSeen = 0
  const reader = async (): Promise<void> => {
    for (let i = 0; i < 400; i++) {
      const before = h.store.revision
      const result = await h.store.range({ key: utf8('hot') })
      const kv = result.kvs[0]
      t.ok(kv.modRevision <= result.revision, 'the record is not newer than the revision read at')
      t.ok(result.revision >= before, 'the revision read at is not older than the store was before the read')
      if (kv.modRevision < lastSeen) t.fail('a read went back in time')
      lastSeen = Math.max(lastSeen, kv.modRevision)
      checked++
    }
  }
  const writer = async (): Promise<void> => {
    for (let i = 1; i <= 200; i++) await h.put('hot', `v${i}`)
  }
  await Promise.all([reader(), reader(), writer()])
  t.ok(checked === 800, 'every read was checked')
  t.equal((await h.get('hot'))?.value, 'v200')
})

t.test('a restore replaces what the cache held', async (t) => {
  const source = await Harness.memory()
  await source.put('a', 'from-snapshot')
  const chunks: Uint8Array[] = []
  for await (const c of source.store.snapshotChunks()) chunks.push(c)
  const target = await Harness.memory()
  await target.put('a', 'old')
  await target.put('b', 'old')
  t.equal((await target.get('a'))?.value, 'old')
  t.equal((await target.get('b'))?.value, 'old', 'both cached')
  await target.store.restore(chunks)
  t.equal((await target.get('a'))?.value, 'from-snapshot', 'a is the snapshot value')
  t.equal(await target.get('b'), undefined, 'b is gone')
})

t.test('a failed write leaves no stale record in the cache', async (t) => {
  const db = new MemoryLevel()
  const store = await MvccStore.open(db)
  const data = (seq: number, value: string) => encodeEnvelope({ clientId: 'c', seq, cmd: { type: 'put', key: utf8('k'), value: utf8(value) } })
  await store.apply([{ index: 1, data: data(1, 'one') }])
  t.equal(text((await store.get(utf8('k')))!.value), 'one')
  const original = db.batch.bind(db)
  ;(db as unknown as { batch: unknown }).batch = async () => {
    throw new Error('disk full')
  }
  await t.rejects(store.apply([{ index: 2, data: data(2, 'two') }]), /disk full/)
  ;(db as unknown as { batch: unknown }).batch = original
  t.equal(text((await store.get(utf8('k')))!.value), 'one', 'the read shows what is on disk')
  t.equal(store.appliedIndex, 1)
})

t.test('a loop of cached reads lets the event loop run (timers, sockets)', async (t) => {
  const h = await Harness.memory()
  await h.put('k', 'v')
  let ran = false
  setImmediate(() => (ran = true))
  let reads = 0
  while (!ran && reads < 100_000) {
    await h.store.range({ key: utf8('k') })
    reads++
  }
  t.ok(ran, `the event loop ran while reads went on (after ${reads} reads)`)
})

t.test('changing a returned value changes nothing held: not later reads, not what the store writes', async (t) => {
  const h = await Harness.memory()
  await h.put('k', 'original')
  const first = (await h.store.range({ key: utf8('k') })).kvs[0]
  first.value.fill(0x78)
  t.equal(text((await h.store.range({ key: utf8('k') })).kvs[0].value), 'original', 'a later read is unchanged')
  const prev = await h.run({ type: 'put', key: utf8('k'), value: utf8('second'), prevKv: true })
  if (prev.type === 'put' && prev.prevKv) prev.prevKv.value.fill(0x79)
  await h.run({ type: 'put', key: utf8('k'), ignoreValue: true, lease: 0 })
  t.equal(text((await h.store.range({ key: utf8('k') })).kvs[0].value), 'second', 'an ignoreValue put keeps the stored value')
})
