// Transactions as etcd's Txn: compares on value, version, create and mod revision and lease,
// with =, !=, <, >; the zero key-value for a missing key (but a value compare on a missing key
// always fails); a compare over a range must hold for every key; all writes in one revision;
// reads in a transaction see its earlier writes; a refused branch writes nothing.
import t from 'tap'
import type { Compare, CompareResult, TxnOp } from '../../lib/kv/commands.js'
import { encodeEnvelope } from '../../lib/kv/codec.js'
import { prefixEnd } from '../../lib/kv/key-range.js'
import { Harness, eventLines, expectType, kv, text, utf8 } from './helpers.js'

const put = (key: string, value: string): TxnOp => ({ type: 'put', key: utf8(key), value: utf8(value) })

async function succeeded(h: Harness, compare: Compare[]): Promise<boolean> {
  const result = expectType(await h.run({ type: 'txn', compare, success: [], failure: [] }), 'txn')
  return result.succeeded
}

t.test('each target and operator compares like etcd', async (t) => {
  const h = await Harness.memory()
  await h.run({ type: 'leaseGrant', id: 5, ttlSeconds: 60 })
  await h.put('k', 'm', { lease: 5 }) // rev 2
  await h.put('k', 'm') // rev 3, version 2, no lease
  await h.put('k', 'm', { lease: 5 }) // rev 4, version 3
  const cases: Array<[Compare['target'], Uint8Array | number, CompareResult, boolean]> = [
    ['value', utf8('m'), '=', true],
    ['value', utf8('m'), '!=', false],
    ['value', utf8('l'), '>', true],
    ['value', utf8('n'), '<', true],
    ['value', utf8('ma'), '<', true],
    ['version', 3, '=', true],
    ['version', 2, '>', true],
    ['version', 3, '<', false],
    ['createRevision', 2, '=', true],
    ['createRevision', 2, '!=', false],
    ['modRevision', 4, '=', true],
    ['modRevision', 5, '<', true],
    ['lease', 5, '=', true],
    ['lease', 0, '>', true],
  ]
  for (const [target, value, result, expected] of cases) {
    const compare = { key: utf8('k'), target, result, value } as Compare
    t.equal(await succeeded(h, [compare]), expected, `${target} ${result} ${String(value)}`)
  }
})

t.test('a missing key compares as zeros, but a value compare on it always fails', async (t) => {
  const h = await Harness.memory()
  const missing = utf8('missing')
  t.equal(await succeeded(h, [{ key: missing, target: 'version', result: '=', value: 0 }]), true, 'version = 0 (etcd idiom for "absent")')
  t.equal(await succeeded(h, [{ key: missing, target: 'createRevision', result: '=', value: 0 }]), true)
  t.equal(await succeeded(h, [{ key: missing, target: 'modRevision', result: '<', value: 1 }]), true)
  t.equal(await succeeded(h, [{ key: missing, target: 'lease', result: '=', value: 0 }]), true)
  t.equal(await succeeded(h, [{ key: missing, target: 'value', result: '=', value: new Uint8Array(0) }]), false, 'value = "" fails')
  t.equal(await succeeded(h, [{ key: missing, target: 'value', result: '!=', value: utf8('x') }]), false, 'value != "x" fails too')
})

t.test('a compare over a range holds only if it holds for every key of the range', async (t) => {
  const h = await Harness.memory()
  await h.put('p/a', '1')
  await h.put('p/b', '1')
  await h.put('p/b', '1')
  const range = { key: utf8('p/'), rangeEnd: prefixEnd(utf8('p/')) }
  t.equal(await succeeded(h, [{ ...range, target: 'value', result: '=', value: utf8('1') }]), true)
  t.equal(await succeeded(h, [{ ...range, target: 'version', result: '=', value: 1 }]), false, 'p/b is at version 2')
  t.equal(await succeeded(h, [{ ...range, target: 'version', result: '>', value: 0 }]), true)
  const empty = { key: utf8('q/'), rangeEnd: prefixEnd(utf8('q/')) }
  t.equal(await succeeded(h, [{ ...empty, target: 'version', result: '=', value: 0 }]), true, 'an empty range compares as zeros')
  t.equal(await succeeded(h, [{ ...empty, target: 'value', result: '=', value: utf8('') }]), false)
})

t.test('all compares must hold; the branch taken is reported; writes share one revision', async (t) => {
  const h = await Harness.memory()
  await h.put('x', '1') // rev 2
  const txn = {
    type: 'txn' as const,
    compare: [
      { key: utf8('x'), target: 'value' as const, result: '=' as const, value: utf8('1') },
      { key: utf8('y'), target: 'version' as const, result: '=' as const, value: 0 },
    ],
    success: [put('y', 'new'), put('z', 'new'), { type: 'deleteRange' as const, key: utf8('x'), prevKv: true }],
    failure: [put('failed', 'yes')],
  }
  const { result, events } = await h.runWithEvents(txn)
  const first = expectType(result, 'txn')
  t.equal(first.succeeded, true)
  t.equal(first.revision, 3)
  t.same(
    first.responses.map((r) => r.type),
    ['put', 'put', 'deleteRange'],
  )
  const del = first.responses[2]
  t.same(del.type === 'deleteRange' ? del.prevKvs!.map(kv) : undefined, [{ key: 'x', value: '1', create: 2, mod: 2, version: 1, lease: 0 }])
  t.same(eventLines(events), [['3:put y@3=new', '3:put z@3=new', '3:delete x@3']], 'one revision, sub-revisions in op order')
  const again = expectType(await h.run(txn), 'txn')
  t.equal(again.succeeded, false, 'x is gone now')
  t.equal(again.revision, 4)
  t.same(await h.dump(), ['failed=yes', 'y=new', 'z=new'])
})

t.test('a transaction without writes takes no revision', async (t) => {
  const h = await Harness.memory()
  await h.put('a', '1')
  const result = expectType(
    await h.run({ type: 'txn', compare: [], success: [{ type: 'range', key: utf8('a') }, { type: 'deleteRange', key: utf8('none') }], failure: [] }),
    'txn',
  )
  t.equal(result.revision, 2)
  t.equal(h.store.revision, 2)
})

t.test('a range in a transaction sees the writes before it; an explicit revision reads the past', async (t) => {
  const h = await Harness.memory()
  await h.put('a', 'old') // rev 2
  const result = expectType(
    await h.run({
      type: 'txn',
      compare: [],
      success: [put('a', 'new'), { type: 'range', key: utf8('a') }, { type: 'range', key: utf8('a'), revision: 2 }],
      failure: [],
    }),
    'txn',
  )
  const [, now, then] = result.responses
  t.same(now.type === 'range' ? now.kvs.map(kv) : undefined, [{ key: 'a', value: 'new', create: 2, mod: 3, version: 2, lease: 0 }])
  t.same(then.type === 'range' ? then.kvs.map((x) => text(x.value)) : undefined, ['old'])
})

t.test('a branch that cannot run (missing lease, future revision) fails whole and writes nothing', async (t) => {
  const h = await Harness.memory()
  await h.put('a', '1')
  const lease = expectType(
    await h.run({ type: 'txn', compare: [], success: [put('b', '1'), { type: 'put', key: utf8('c'), value: utf8('1'), lease: 42 }], failure: [] }),
    'error',
  )
  t.equal(lease.error.code, 'LEASE_NOT_FOUND')
  const future = expectType(
    await h.run({ type: 'txn', compare: [], success: [put('b', '1'), { type: 'range', key: utf8('a'), revision: 3 }], failure: [] }),
    'error',
  )
  t.equal(future.error.code, 'FUTURE_REVISION')
  t.equal(h.store.revision, 2)
  t.same(await h.dump(), ['a=1'])
  await h.run({ type: 'compact', revision: 2 })
  const compacted = expectType(await h.run({ type: 'txn', compare: [], success: [{ type: 'range', key: utf8('a'), revision: 1 }], failure: [] }), 'error')
  t.equal(compacted.error.code, 'COMPACTED')
  t.equal(compacted.error.compactRevision, 2)
})

t.test('a key put twice, or put and deleted, in one branch is refused (etcd: duplicate key)', async (t) => {
  t.throws(() => encodeEnvelope({ clientId: 'c', seq: 1, cmd: { type: 'txn', compare: [], success: [put('a', '1'), put('a', '2')], failure: [] } }), TypeError)
  t.throws(
    () =>
      encodeEnvelope({
        clientId: 'c',
        seq: 1,
        cmd: { type: 'txn', compare: [], success: [], failure: [{ type: 'deleteRange', key: utf8('a'), rangeEnd: utf8('c') }, put('b', '1')] },
      }),
    TypeError,
  )
  t.doesNotThrow(
    () =>
      encodeEnvelope({
        clientId: 'c',
        seq: 1,
        cmd: { type: 'txn', compare: [], success: [put('a', '1')], failure: [put('a', '2'), { type: 'deleteRange', key: utf8('b'), rangeEnd: utf8('c') }] },
      }),
    'different branches, disjoint ranges are fine',
  )
})
