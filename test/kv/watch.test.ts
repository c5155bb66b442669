// The watch feed: apply() returns the events of each revision together, in revision order;
// eventsSince() replays the same events from history, filtered by key range, with prevKv on
// request, and refuses a start before the compact revision as an etcd watch does.
import t from 'tap'
import { CompactedError } from '../../lib/errors.js'
import { NO_END, prefixEnd } from '../../lib/kv/key-range.js'
import type { RevisionEvents } from '../../lib/kv/results.js'
import { Harness, eventLines, kv, utf8 } from './helpers.js'

async function collect(iterable: AsyncIterable<RevisionEvents>): Promise<RevisionEvents[]> {
  const out: RevisionEvents[] = []
  for await (const group of iterable) out.push(group)
  return out
}

async function history(): Promise<{ h: Harness; live: RevisionEvents[] }> {
  const h = await Harness.memory()
  await h.run({ type: 'leaseGrant', id: 1, ttlSeconds: 5 })
  const { events } = await h.batch([
    { type: 'put', key: utf8('w/a'), value: utf8('1') }, // 2
    { type: 'put', key: utf8('w/b'), value: utf8('1'), lease: 1 }, // 3
    { type: 'put', key: utf8('x'), value: utf8('1') }, // 4
    { type: 'deleteRange', key: utf8('nothing') }, // no revision
    {
      type: 'txn',
      compare: [],
      success: [
        { type: 'put', key: utf8('w/a'), value: utf8('2') },
        { type: 'deleteRange', key: utf8('x') },
      ],
      failure: [],
    }, // 5
    { type: 'leaseRevoke', id: 1 }, // 6
    { type: 'put', key: utf8('w/a'), value: utf8('3') }, // 7
  ])
  return { h, live: events }
}

t.test('apply groups events by revision, in revision order, with sub-revision order inside', async (t) => {
  const { live } = await history()
  t.same(eventLines(live), [
    ['2:put w/a@2=1'],
    ['3:put w/b@3=1'],
    ['4:put x@4=1'],
    ['5:put w/a@5=2', '5:delete x@5'],
    ['6:delete w/b@6'],
    ['7:put w/a@7=3'],
  ])
  t.same(kv(live[3].events[0].prevKv!), { key: 'w/a', value: '1', create: 2, mod: 2, version: 1, lease: 0 }, 'live events carry prevKv')
  t.same(kv(live[3].events[1].kv), { key: 'x', value: '', create: 0, mod: 5, version: 0, lease: 0 }, 'a deletion is key + mod revision')
})

t.test('eventsSince replays exactly the live events (with prevKv when asked)', async (t) => {
  const { h, live } = await history()
  t.same(await collect(h.store.eventsSince(2, { prevKv: true })), live)
  const withoutPrev = await collect(h.store.eventsSince(1))
  t.same(eventLines(withoutPrev), eventLines(live))
  t.notOk(withoutPrev.some((group) => group.events.some((e) => e.prevKv !== undefined)), 'no prevKv unless asked')
})

t.test('eventsSince filters by key or range and bounds by revision', async (t) => {
  const { h } = await history()
  t.same(eventLines(await collect(h.store.eventsSince(4, { key: utf8('w/'), rangeEnd: prefixEnd(utf8('w/')) }))), [
    ['5:put w/a@5=2'],
    ['6:delete w/b@6'],
    ['7:put w/a@7=3'],
  ])
  t.same(eventLines(await collect(h.store.eventsSince(1, { key: utf8('x') }))), [['4:put x@4=1'], ['5:delete x@5']])
  t.same(eventLines(await collect(h.store.eventsSince(3, { key: utf8('w/b'), rangeEnd: NO_END, toRevision: 5 }))), [
    ['3:put w/b@3=1'],
    ['4:put x@4=1'],
    ['5:delete x@5'],
  ], 'w/a sorts before w/b: not in [w/b, end)')
  t.same(await collect(h.store.eventsSince(8)), [], 'nothing after the current revision')
})

t.test('a watch from before the compact revision fails with COMPACTED; from the compact revision on it is complete', async (t) => {
  const { h, live } = await history()
  await h.run({ type: 'compact', revision: 5 })
  t.notOk(h.store.compactionPending, 'apply() removed the old versions')
  await t.rejects(collect(h.store.eventsSince(4)), CompactedError)
  await t.rejects(collect(h.store.eventsSince(4)), { code: 'COMPACTED', compactRevision: 5 })
  // The deletion of x at 5 is kept although x is gone at 5: a watch from 5 must see it.
  t.same(eventLines(await collect(h.store.eventsSince(5))), eventLines(live.slice(3)))
  const replay = await collect(h.store.eventsSince(6, { prevKv: true }))
  t.same(kv(replay[0].events[0].prevKv!), { key: 'w/b', value: '1', create: 3, mod: 3, version: 1, lease: 1 }, 'prevKv still found after compaction')
})

t.test('events arrive in revision order across batches and the replay has no gaps or repeats', async (t) => {
  const h = await Harness.memory()
  const live: RevisionEvents[] = []
  for (let round = 0; round < 20; round++) {
    const { events } = await h.batch(
      Array.from({ length: round % 4 }, (_, i) => ({ type: 'put' as const, key: utf8(`k${(round * 7 + i) % 5}`), value: utf8(`${round}`) })),
    )
    live.push(...events)
  }
  const revisions = live.map((group) => group.revision)
  t.same(
    revisions,
    Array.from({ length: revisions.length }, (_, i) => i + 2),
    'one group per revision, consecutive',
  )
  t.same(await collect(h.store.eventsSince(2, { prevKv: true })), live)
})
