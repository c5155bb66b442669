// Exactly-once: each envelope carries (clientId, seq); a repeated pair is answered with the
// recorded result and applied no second time, in the same batch or later, across restarts and
// snapshots. Entries at or below the applied index are skipped; a gap is a driver bug.
import t from 'tap'
import { MemoryLevel } from 'memory-level'
import { encodeEnvelope } from '../../lib/kv/codec.js'
import { MvccStore } from '../../lib/kv/mvcc-store.js'
import { toError, StaleSequenceError } from '../../lib/kv/errors.js'
import { DEDUP_WINDOW } from '../../lib/kv/apply-batch.js'
import { Harness, utf8 } from './helpers.js'

const put = (clientId: string, seq: number, value: string): Uint8Array =>
  encodeEnvelope({ clientId, seq, cmd: { type: 'put', key: utf8('k'), value: utf8(value) } })

t.test('a repeated (clientId, seq) returns the recorded result without applying again', async (t) => {
  const h = await Harness.memory()
  const first = await h.store.apply([{ index: 1, data: put('c', 1, 'a') }])
  t.same(first.results[0], { index: 1, clientId: 'c', seq: 1, duplicate: false, result: { type: 'put', revision: 2 } })
  // The retry arrives as a new log entry (say, re-proposed after a leader change) with a different value.
  const retry = await h.store.apply([{ index: 2, data: put('c', 1, 'b') }])
  t.same(retry.results[0], { index: 2, clientId: 'c', seq: 1, duplicate: true, result: { type: 'put', revision: 2 } })
  t.same(retry.events, [], 'no events')
  t.equal(h.store.revision, 2)
  t.equal(h.store.appliedIndex, 2, 'the duplicate entry still counts as applied')
  t.same((await h.get('k'))?.value, 'a')
})

t.test('duplicates within one batch, interleaved clients, and clients opting out', async (t) => {
  const h = await Harness.memory()
  const { results } = await h.store.apply([
    { index: 1, data: put('x', 1, '1') },
    { index: 2, data: put('y', 1, '2') },
    { index: 3, data: put('x', 1, '3') },
    { index: 4, data: put('x', 2, '4') },
    { index: 5, data: put('', 0, '5') },
    { index: 6, data: put('', 0, '6') },
  ])
  t.same(
    results.map((r) => [r.duplicate, r.result.type === 'put' ? r.result.revision : -1]),
    [
      [false, 2],
      [false, 3],
      [true, 2],
      [false, 4],
      [false, 5],
      [false, 6],
    ],
  )
  t.same((await h.get('k'))?.version, 5)
})

t.test('requests that overtake each other are each applied once; repeats of older ones are refused', async (t) => {
  const h = await Harness.memory()
  const first = await h.store.apply([
    { index: 1, data: put('c', 5, 'a') },
    { index: 2, data: put('c', 3, 'b') },
  ])
  t.same(first.results.map((r) => [r.duplicate, r.result.type]), [[false, 'put'], [false, 'put']], 'sequence 3 arrives after 5 and is applied')
  t.same((await h.get('k'))?.value, 'b')
  const later = await h.store.apply([
    { index: 3, data: put('c', 4, 'c') },
    { index: 4, data: put('c', 3, 'again') },
    { index: 5, data: put('c', 5, 'again') },
  ])
  t.same(later.results[0].result.type, 'put', 'sequence 4, never applied, is applied')
  const repeat = later.results[1]
  t.equal(repeat.duplicate, true, 'a repeat of an older applied sequence is a duplicate')
  t.equal(repeat.result.type, 'error')
  if (repeat.result.type === 'error') {
    t.equal(repeat.result.error.code, 'STALE_SEQUENCE', 'whose result is no longer kept')
    const error = toError(repeat.result.error)
    t.ok(error instanceof StaleSequenceError)
    t.equal((error as StaleSequenceError).lastSeq, 5)
  }
  t.same(later.results[2], { index: 5, clientId: 'c', seq: 5, duplicate: true, result: first.results[0].result }, 'the newest keeps its result')
  t.same((await h.get('k'))?.value, 'c', 'no repeat was applied')
  t.equal((await h.get('k'))?.version, 3)
})

t.test('a sequence more than DEDUP_WINDOW behind the newest is refused', async (t) => {
  const h = await Harness.memory()
  await h.store.apply([{ index: 1, data: put('c', DEDUP_WINDOW + 10, 'new') }])
  const { results } = await h.store.apply([
    { index: 2, data: put('c', 5, 'too old') },
    { index: 3, data: put('c', 20, 'in the window') },
  ])
  t.equal(results[0].result.type === 'error' && results[0].result.error.code, 'STALE_SEQUENCE')
  t.equal(results[0].duplicate, true, 'never applied')
  t.equal(results[1].result.type, 'put', 'a sequence inside the window is applied')
  t.same((await h.get('k'))?.value, 'in the window')
})

t.test('failed commands are recorded too: the retry gets the same error', async (t) => {
  const h = await Harness.memory()
  const cmd = encodeEnvelope({ clientId: 'c', seq: 1, cmd: { type: 'put', key: utf8('k'), value: utf8('v'), lease: 9 } })
  const first = await h.store.apply([{ index: 1, data: cmd }])
  // The lease appears before the retry; the retry must still answer what the first attempt did.
  await h.store.apply([{ index: 2, data: encodeEnvelope({ clientId: 'leader', seq: 1, cmd: { type: 'leaseGrant', id: 9, ttlSeconds: 5 } }) }])
  const retry = await h.store.apply([{ index: 3, data: cmd }])
  t.same(retry.results[0].result, first.results[0].result)
  t.equal(retry.results[0].duplicate, true)
  t.equal(await h.get('k'), undefined)
})

t.test('entries at or below the applied index are skipped; a gap throws and writes nothing', async (t) => {
  const h = await Harness.memory()
  await h.store.apply([
    { index: 1, data: put('c', 1, 'a') },
    { index: 2, data: put('c', 2, 'b') },
  ])
  const replay = await h.store.apply([
    { index: 1, data: put('c', 1, 'a') },
    { index: 2, data: put('c', 2, 'b') },
    { index: 3, data: put('c', 3, 'c') },
  ])
  t.same(
    replay.results.map((r) => r.index),
    [3],
    'only the new entry is applied',
  )
  await t.rejects(h.store.apply([{ index: 5, data: put('c', 4, 'd') }]), TypeError)
  t.equal(h.store.appliedIndex, 3)
  t.same((await h.get('k'))?.value, 'c')
})

t.test('empty entries (a new leader, a membership change) advance the applied index only', async (t) => {
  const h = await Harness.memory()
  const { results } = await h.store.apply([{ index: 1, data: new Uint8Array(0) }])
  t.same(results, [{ index: 1, clientId: '', seq: 0, duplicate: false, result: { type: 'noop', revision: 1 } }])
  t.equal(h.store.appliedIndex, 1)
  t.equal(h.store.revision, 1)
})

t.test('an undecodable entry is answered with INVALID_COMMAND and the store moves on', async (t) => {
  const h = await Harness.memory()
  const { results } = await h.store.apply([
    { index: 1, data: Uint8Array.of(0xc1) },
    { index: 2, data: encodeEnvelope({ clientId: 'c', seq: 1, cmd: { type: 'put', key: utf8('k'), value: utf8('v') } }) },
  ])
  t.equal(results[0].result.type === 'error' && results[0].result.error.code, 'INVALID_COMMAND')
  t.equal(results[1].result.type, 'put')
  t.equal(h.store.appliedIndex, 2)
})

t.test('the dedup table survives a restart', async (t) => {
  const db = new MemoryLevel()
  const store = await MvccStore.open(db)
  await store.apply([{ index: 1, data: put('c', 1, 'a') }])
  const reopened = await MvccStore.open(db)
  const retry = await reopened.apply([{ index: 2, data: put('c', 1, 'b') }])
  t.equal(retry.results[0].duplicate, true)
  t.same(retry.results[0].result, { type: 'put', revision: 2 })
})
