import t, { type Test } from 'tap'
import type { MetastoreNode } from '../../lib/node/create-node.js'
import { MessageType } from '../../lib/raft/types.js'
import { createTestCluster, type TestCluster } from '../../lib/testing/cluster.js'

const KEYS = 100_000
const PER_TXN = 1000
const CONCURRENCY = 8
const keyOf = (i: number): string => `key/${String(i).padStart(6, '0')}`

/** Writes KEYS keys through `node`, PER_TXN to a transaction, CONCURRENCY transactions at a time. */
async function writeKeys(node: MetastoreNode<number>): Promise<{ ms: number; cpuMs: number }> {
  const started = performance.now()
  const cpu = process.cpuUsage()
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < KEYS) {
      const first = next
      next = Math.min(KEYS, next + PER_TXN)
      const success = []
      for (let i = first; i < next; i++) success.push({ put: { key: keyOf(i), value: i } })
      await node.kv.txn({ compare: [], success })
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  const used = process.cpuUsage(cpu)
  return { ms: Math.round(performance.now() - started), cpuMs: Math.round((used.user + used.system) / 1000) }
}

/** Checks that `node` holds exactly the KEYS keys with their values (reading its local state). */
async function checkAllKeys(t: Test, node: MetastoreNode<number>): Promise<void> {
  const { kvs, count } = await node.kv.range({ prefix: 'key/', serializable: true })
  t.equal(count, KEYS, `node ${node.id} counts ${KEYS} keys`)
  let wrong = 0
  for (let i = 0; i < kvs.length; i++) if (kvs[i].key !== keyOf(i) || kvs[i].value !== i) wrong++
  t.equal(kvs.length, KEYS)
  t.equal(wrong, 0, `node ${node.id} holds every key with its value`)
}

/** Waits until the node has applied every entry of its log. */
function applyAll(cluster: TestCluster<number>, node: MetastoreNode<number>): Promise<void> {
  return cluster.runUntil(() => node.status().appliedIndex === node.status().lastIndex, { timeoutMs: 60_000 })
}

const appliedCounter = (node: MetastoreNode<number>): number => node.metrics.counter('metastore_applied_entries_total', '').get()

t.test(`a node joins a cluster holding ${KEYS} keys through a snapshot and ends with every key`, async (t) => {
  // A one-node cluster holds the data, so that the machine spends its time on the join, not on
  // applying every write three times. The 100 transactions make about 100 entries: one snapshot
  // at 90 with 5 entries kept behind it, and the log a newcomer would need is gone: it must be
  // sent the state.
  const cluster = await createTestCluster<number>({
    nodes: 1,
    seed: 100,
    node: { tickMs: 50, snapshotEvery: 90, compactKeep: 5, requestTimeoutMs: 60_000 },
  })
  t.teardown(() => cluster.close())
  const leader = await cluster.waitForLeader({ timeoutMs: 30_000 })
  const { ms, cpuMs } = await writeKeys(leader)
  t.comment(`wrote ${KEYS} keys (${PER_TXN} per txn, ${CONCURRENCY} txns at a time) in ${ms} ms (${cpuMs} ms of CPU)`)
  await applyAll(cluster, leader)
  t.ok(cluster.storage(leader.id).firstIndex() > 2, 'the leader compacted its log behind a snapshot')

  const snapshotsBefore = cluster.messagesSent(MessageType.Snap)
  const started = performance.now()
  const joined = await cluster.addNode({ timeoutMs: 60_000 })
  t.comment(`the new node joined and caught up in ${Math.round(performance.now() - started)} ms`)
  t.ok(cluster.messagesSent(MessageType.Snap) > snapshotsBefore, 'a snapshot was sent')
  t.ok(cluster.storage(joined.id).snapshot().metadata.index > 0, 'the new node installed it')
  t.same(
    joined.members().map((m) => [m.id, m.role]),
    [
      [1, 'voter'],
      [2, 'voter'],
    ],
    'and is a voter',
  )
  await checkAllKeys(t, joined)
})

t.test(`a LevelDB node holding ${KEYS} keys restarts without replaying its log`, async (t) => {
  const cluster = await createTestCluster<number>({ nodes: 1, storage: 'leveldb', seed: 101, node: { tickMs: 50, requestTimeoutMs: 60_000 } })
  t.teardown(() => cluster.close())
  const node = await cluster.waitForLeader({ timeoutMs: 30_000 })
  const { ms, cpuMs } = await writeKeys(node)
  t.comment(`wrote ${KEYS} keys to LevelDB in ${ms} ms (${cpuMs} ms of CPU)`)
  await applyAll(cluster, node)
  const before = node.status()
  t.equal(cluster.storage(node.id).snapshot().metadata.index, 0, 'no snapshot: the whole log is there to replay')

  const started = performance.now()
  await cluster.stop(node.id)
  const back = await cluster.restart(node.id)
  t.comment(`stop and restart took ${Math.round(performance.now() - started)} ms`)
  const open = back.status()
  t.equal(open.appliedIndex, before.appliedIndex, 'the applied index on open is the one before the stop')
  // The sole voter elects itself at start: its new term's empty entry may be in the log already.
  t.ok(open.lastIndex - before.lastIndex === 0 || open.lastIndex - before.lastIndex === 1, `the log as before, or one entry of a new term more (${before.lastIndex} → ${open.lastIndex})`)
  t.equal(open.revision, before.revision, 'and so is the revision')
  t.equal(appliedCounter(back), 0, 'no entry was applied to open')

  await cluster.waitForLeader({ timeoutMs: 30_000 })
  await back.kv.put('after-restart', -1)
  await applyAll(cluster, back)
  const now = back.status().appliedIndex
  t.equal(appliedCounter(back), now - before.appliedIndex, 'only the entries after the restart were applied')
  await checkAllKeys(t, back)
  t.equal((await back.kv.get('after-restart'))?.value, -1)
})
