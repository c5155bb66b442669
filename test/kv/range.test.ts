// Range reads as etcd's RangeRequest: single key, [key, rangeEnd), "\0" = no upper bound,
// prefixes, limit/more/count, countOnly, keysOnly, sorting, min/max filters and reads at past
// revisions, with the future-revision and compacted errors.
import t from 'tap'
import { CompactedError } from '../../lib/errors.js'
import { FutureRevisionError } from '../../lib/kv/errors.js'
import { NO_END, prefixEnd } from '../../lib/kv/key-range.js'
import { Harness, kv, text, utf8 } from './helpers.js'

async function fixture(): Promise<Harness> {
  const h = await Harness.memory()
  await h.put('a', '3') // rev 2
  await h.put('b/1', '1') // rev 3
  await h.put('b/2', '2') // rev 4
  await h.put('b/3', '0') // rev 5
  await h.put('b/1', '9') // rev 6
  await h.put('c', '5') // rev 7
  return h
}

const keys = (kvs: { key: Uint8Array }[]): string[] => kvs.map((item) => text(item.key))

t.test('single key, interval, prefix, and "\\0" as an open end', async (t) => {
  const h = await fixture()
  t.same(keys((await h.store.range({ key: utf8('b/2') })).kvs), ['b/2'])
  t.same(keys((await h.store.range({ key: utf8('b') })).kvs), [], 'a single key is exact, not a prefix')
  t.same(keys((await h.store.range({ key: utf8('a'), rangeEnd: utf8('b/2') })).kvs), ['a', 'b/1'], 'rangeEnd is exclusive')
  t.same(keys((await h.store.range({ key: utf8('b/'), rangeEnd: prefixEnd(utf8('b/')) })).kvs), ['b/1', 'b/2', 'b/3'])
  t.same(keys((await h.store.range({ key: utf8('b/3'), rangeEnd: NO_END })).kvs), ['b/3', 'c'], 'every key >= key')
  t.same(keys((await h.store.range({ key: NO_END, rangeEnd: NO_END })).kvs), ['a', 'b/1', 'b/2', 'b/3', 'c'], 'every key')
  t.same(keys((await h.store.range({ key: utf8('c'), rangeEnd: utf8('a') })).kvs), [], 'an inverted range is empty')
})

t.test('prefixEnd follows etcd: increment the last byte below 0xff, drop what follows', async (t) => {
  t.same(Array.from(prefixEnd(utf8('ab'))), Array.from(utf8('ac')))
  t.same(Array.from(prefixEnd(Uint8Array.of(1, 0xff, 0xff))), [2])
  t.same(Array.from(prefixEnd(Uint8Array.of(0xff, 0xff))), [0], 'no upper bound')
})

t.test('limit returns the first keys, more says whether there were others, count counts all', async (t) => {
  const h = await fixture()
  const r = await h.store.range({ key: NO_END, rangeEnd: NO_END, limit: 2 })
  t.same(keys(r.kvs), ['a', 'b/1'])
  t.equal(r.more, true)
  t.equal(r.count, 5)
  t.equal(r.revision, 7)
  const exact = await h.store.range({ key: NO_END, rangeEnd: NO_END, limit: 5 })
  t.equal(exact.more, false, 'limit equal to the count leaves nothing out')
  t.equal(exact.kvs.length, 5)
})

t.test('countOnly returns the count and no key-values; keysOnly drops values', async (t) => {
  const h = await fixture()
  const counted = await h.store.range({ key: utf8('b/'), rangeEnd: prefixEnd(utf8('b/')), countOnly: true })
  t.same(counted, { kvs: [], count: 3, more: false, revision: 7 })
  const historical = await h.store.range({ key: utf8('b/'), rangeEnd: prefixEnd(utf8('b/')), countOnly: true, revision: 4 })
  t.equal(historical.count, 2)
  const keysOnly = await h.store.range({ key: utf8('b/1'), keysOnly: true })
  t.equal(keysOnly.kvs[0].value.length, 0)
  t.equal(keysOnly.kvs[0].version, 2, 'metadata is kept')
})

t.test('sorting: by each target, ascending and descending; a non-key target without an order sorts ascending', async (t) => {
  const h = await fixture()
  const all = { key: NO_END, rangeEnd: NO_END }
  t.same(keys((await h.store.range({ ...all, sortOrder: 'descend' })).kvs), ['c', 'b/3', 'b/2', 'b/1', 'a'])
  t.same(keys((await h.store.range({ ...all, sortTarget: 'value' })).kvs), ['b/3', 'b/2', 'a', 'c', 'b/1'], 'target value, order none → ascend')
  t.same(keys((await h.store.range({ ...all, sortTarget: 'modRevision', sortOrder: 'descend' })).kvs), ['c', 'b/1', 'b/3', 'b/2', 'a'])
  t.same(keys((await h.store.range({ ...all, sortTarget: 'createRevision', sortOrder: 'descend' })).kvs), ['c', 'b/3', 'b/2', 'b/1', 'a'])
  t.same(keys((await h.store.range({ ...all, sortTarget: 'version', sortOrder: 'descend' })).kvs), ['b/1', 'a', 'b/2', 'b/3', 'c'], 'ties stay in key order')
  const limited = await h.store.range({ ...all, sortTarget: 'value', sortOrder: 'descend', limit: 2 })
  t.same(keys(limited.kvs), ['b/1', 'c'], 'sorts everything, then cuts')
  t.equal(limited.more, true)
  t.equal(limited.count, 5)
})

t.test('min/max revision filters prune the result but not count, as in etcd', async (t) => {
  const h = await fixture()
  const all = { key: NO_END, rangeEnd: NO_END }
  const mod = await h.store.range({ ...all, minModRevision: 4, maxModRevision: 6 })
  t.same(keys(mod.kvs), ['b/1', 'b/2', 'b/3'])
  t.equal(mod.count, 5)
  t.same(keys((await h.store.range({ ...all, minCreateRevision: 3, maxCreateRevision: 4 })).kvs), ['b/1', 'b/2'])
  const limited = await h.store.range({ ...all, minModRevision: 3, limit: 1 })
  t.same(keys(limited.kvs), ['b/1'])
  t.equal(limited.more, true)
})

t.test('reading at a past revision sees the keys as they were then', async (t) => {
  const h = await fixture()
  await h.del('b/2') // rev 8
  await h.put('b/2', 'again') // rev 9
  const at = async (revision: number): Promise<string[]> =>
    (await h.store.range({ key: NO_END, rangeEnd: NO_END, revision })).kvs.map((item) => `${text(item.key)}=${text(item.value)}`)
  t.same(await at(1), [])
  t.same(await at(3), ['a=3', 'b/1=1'])
  t.same(await at(5), ['a=3', 'b/1=1', 'b/2=2', 'b/3=0'])
  t.same(await at(6), ['a=3', 'b/1=9', 'b/2=2', 'b/3=0'])
  t.same(await at(8), ['a=3', 'b/1=9', 'b/3=0', 'c=5'], 'deleted at 8')
  t.same(await at(9), ['a=3', 'b/1=9', 'b/2=again', 'b/3=0', 'c=5'])
  t.same(await h.get('b/1', 4), { key: 'b/1', value: '1', create: 3, mod: 3, version: 1, lease: 0 })
  t.same(await h.get('b/2', 9), { key: 'b/2', value: 'again', create: 9, mod: 9, version: 1, lease: 0 })
  const limited = await h.store.range({ key: NO_END, rangeEnd: NO_END, revision: 6, limit: 2 })
  t.same(keys(limited.kvs), ['a', 'b/1'])
  t.equal(limited.count, 4)
  t.equal(limited.more, true)
  t.equal(limited.revision, 9, 'the header revision is the current one')
})

t.test('a future revision is refused with FUTURE_REVISION', async (t) => {
  const h = await fixture()
  await t.rejects(h.store.range({ key: utf8('a'), revision: 8 }), FutureRevisionError)
  await t.rejects(h.store.range({ key: utf8('a'), revision: 8 }), { code: 'FUTURE_REVISION', currentRevision: 7 })
  t.same(kv((await h.store.get(utf8('a'), { revision: 7 }))!).value, '3', 'the current revision is fine')
})

t.test('a compacted revision is refused with COMPACTED and the compact revision; the compact revision itself is readable', async (t) => {
  const h = await fixture()
  await h.run({ type: 'compact', revision: 5 })
  await t.rejects(h.store.range({ key: utf8('a'), revision: 4 }), CompactedError)
  await t.rejects(h.store.range({ key: utf8('a'), revision: 4 }), { code: 'COMPACTED', compactRevision: 5 })
  t.same(keys((await h.store.range({ key: NO_END, rangeEnd: NO_END, revision: 5 })).kvs), ['a', 'b/1', 'b/2', 'b/3'])
})

t.test('malformed requests are TypeErrors', async (t) => {
  const h = await fixture()
  await t.rejects(h.store.range({ key: new Uint8Array(0) }), TypeError)
  await t.rejects(h.store.range({ key: utf8('a'), limit: -1 }), TypeError)
  // @ts-expect-error a string is not a key
  await t.rejects(h.store.range({ key: 'a' }), TypeError)
})
