import t from 'tap'
import { threeNodeCluster } from './kit.js'
import { createNode, type MetastoreNode, type WatchBatch } from '../../lib/node/create-node.js'
import { memoryStorage } from '../../lib/storage/memory-engine.js'
import { InProcessNetwork } from '../../transports/inprocess.js'

function cluster(t: { teardown(fn: () => unknown): void }): Promise<MetastoreNode<string>[]> {
  return threeNodeCluster<string>(t, 8)
}

/** Takes batches until one reaches `revision` (bounded by a timeout). */
async function collect(it: AsyncIterableIterator<WatchBatch<string>>, revision: number): Promise<WatchBatch<string>[]> {
  const out: WatchBatch<string>[] = []
  const timer = setTimeout(() => void it.return?.(), 5000)
  try {
    for await (const b of { [Symbol.asyncIterator]: () => it }) {
      out.push(b)
      if (b.revision >= revision) break
    }
  } finally {
    clearTimeout(timer)
  }
  return out
}

t.test('live events of a prefix, in revision order, from writes on other nodes', async (t) => {
  const [a, b, c] = await cluster(t)
  const it = a.kv.watch({ prefix: 'app/' })
  await b.kv.put('app/x', '1')
  await c.kv.put('other', 'ignored')
  await b.kv.put('app/y', '2')
  const d = await c.kv.delete('app/x')
  const got = await collect(it, d.revision)
  t.same(
    got.map((g) => g.events.map((e) => `${g.revision}:${e.type}:${e.kv.key}${e.type === 'put' ? `=${e.kv.value}` : ''}`)),
    [[`2:put:app/x=1`], [`4:put:app/y=2`], [`5:delete:app/x`]],
    'only the prefix, each once, in order',
  )
})

t.test('a watch from a past revision replays history, then continues live without gap or repeat', async (t) => {
  const [a, b] = await cluster(t)
  for (let i = 0; i < 10; i++) await b.kv.put(`k/${i % 3}`, `v${i}`)
  const it = a.kv.watch({ prefix: 'k/' }, { fromRevision: 4, prevKv: true })
  const live: Promise<unknown>[] = []
  for (let i = 10; i < 15; i++) live.push(b.kv.put(`k/${i % 3}`, `v${i}`))
  await Promise.all(live)
  const got = await collect(it, 16)
  t.same(got.map((g) => g.revision), [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], 'every revision from 4, once')
  const seven = got.find((g) => g.revision === 7)!.events[0]
  t.equal(seven.kv.value, 'v5')
  t.equal(seven.prevKv?.value, 'v2', 'prevKv from history')
})

t.test('the writes of a transaction arrive as one batch', async (t) => {
  const [a] = await cluster(t)
  const it = a.kv.watch({ prefix: 't/' })
  const r = await a.kv.txn({ compare: [], success: [{ put: { key: 't/1', value: 'a' } }, { put: { key: 't/2', value: 'b' } }] })
  const [batch] = await collect(it, r.revision)
  t.equal(batch.revision, r.revision)
  t.same(batch.events.map((e) => e.kv.key), ['t/1', 't/2'])
})

t.test('a watch from a compacted revision fails with COMPACTED and the compact revision', async (t) => {
  const [a] = await cluster(t)
  for (let i = 0; i < 5; i++) await a.kv.put('c', `${i}`)
  await a.kv.compact(5)
  const it = a.kv.watch('c', { fromRevision: 2 })
  await t.rejects(it.next(), { code: 'COMPACTED', compactRevision: 5 })
})

t.test('a slow consumer gets WATCH_OVERFLOW with the revision to resume from, and resumes', async (t) => {
  const [a] = await cluster(t)
  const it = a.kv.watch({ prefix: 's/' }, { maxQueued: 3 })
  let last = 0
  for (let i = 0; i < 8; i++) last = (await a.kv.put(`s/${i}`, `${i}`)).revision
  const err = (await it.next().catch((e: unknown) => e)) as { code?: string; resumeRevision?: number }
  t.equal(err.code, 'WATCH_OVERFLOW')
  t.equal(err.resumeRevision, 2, 'nothing was consumed: resume from the first revision')
  const again = await collect(a.kv.watch({ prefix: 's/' }, { fromRevision: err.resumeRevision }), last)
  t.same(again.map((g) => g.revision), [2, 3, 4, 5, 6, 7, 8, 9], 'every revision, resumed')
})

t.test('a watch on a node that catches up by snapshot misses no revision', async (t) => {
  const net = new InProcessNetwork({ seed: 9, maxDelayMs: 1, fifo: true })
  const nodes: MetastoreNode<string>[] = []
  const storages = new Map<number, Awaited<ReturnType<typeof memoryStorage>>>()
  const start = async (id: number, join: boolean) => {
    const storage = await memoryStorage()
    storages.set(id, storage)
    const node = await createNode<string>({
      id,
      peers: join ? undefined : [1, 2, 3],
      join,
      storage,
      transport: net.transport(),
      tickMs: 10,
      snapshotEvery: 10,
      compactKeep: 2,
      requestTimeoutMs: 4000,
    })
    nodes.push(node)
    return node
  }
  for (const id of [1, 2, 3]) await start(id, false)
  t.teardown(async () => {
    for (const n of nodes) await n.close()
    net.close()
  })
  const a = nodes[0]
  await a.waitForLeader()
  for (let i = 0; i < 30; i++) await a.kv.put(`j/${i}`, `${i}`)
  const learner = await start(4, true)
  // Watching before the learner has any state: what the snapshot brings is replayed.
  const it = learner.kv.watch({ prefix: 'j/' }, { fromRevision: 2 })
  await a.addLearner(4)
  const last = (await a.kv.put('j/last', 'x')).revision
  const got = await collect(it, last)
  t.same(
    got.map((g) => g.revision),
    Array.from({ length: last - 1 }, (_, i) => i + 2),
    'every revision from 2 to the last, once, in order',
  )
  t.ok(storages.get(4)!.firstIndex() > 1, `the learner installed a snapshot (its log starts at ${storages.get(4)!.firstIndex()})`)
})

t.test('progress notifications: an idle watcher learns the revision it is current to', async (t) => {
  const [a, b] = await cluster(t)
  const it = a.kv.watch({ prefix: 'p/' }, { progressNotifyMs: 20 })
  const w1 = await b.kv.put('p/1', 'one')
  // Writes elsewhere move the revision without touching the watched prefix.
  await b.kv.put('elsewhere', 'x')
  const w3 = await b.kv.put('elsewhere', 'y')
  // Wait until node a applied them: a progress notification then reports at least w3.
  const deadline = Date.now() + 5000
  while ((await a.kv.get('elsewhere', { serializable: true }))?.value !== 'y') {
    if (Date.now() > deadline) throw new Error('node a did not apply the writes')
    await new Promise((r) => setTimeout(r, 5))
  }
  const seen: WatchBatch<string>[] = []
  const stop = setTimeout(() => void it.return?.(), 5000)
  for await (const batch of { [Symbol.asyncIterator]: () => it }) {
    seen.push(batch)
    if (batch.events.length === 0 && batch.revision >= w3.revision) break
  }
  clearTimeout(stop)
  const events = seen.filter((s) => s.events.length > 0)
  t.same(events.map((s) => s.revision), [w1.revision], 'the one event of the prefix, once')
  const progress = seen.filter((s) => s.events.length === 0)
  t.ok(progress.length > 0, 'at least one progress notification')
  // What a notification promises: no event at or below its revision comes after it.
  const broken = seen.filter((p, i) => p.events.length === 0 && seen.slice(i + 1).some((later) => later.events.length > 0 && later.revision <= p.revision))
  t.same(broken, [], 'no event arrives after a notification that covered its revision')
  t.ok(progress[progress.length - 1].revision >= w3.revision, 'the last reports the revision of the latest write')
  await it.return?.()
})
