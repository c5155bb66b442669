import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { createNode, type MetastoreNode } from '../../lib/node/create-node.js'
import { levelStorage } from '../../lib/storage/level-engine.js'
import { memoryStorage } from '../../lib/storage/memory-engine.js'
import { InProcessNetwork } from '../../transports/inprocess.js'
import { until } from './kit.js'

// Local snapshots hold no data (the state is in the database); the state is read out when a
// follower needs it, at the applied index of that moment, which is past the snapshot's index
// while writes go on. The follower must end with exactly the leader's state, also across a
// restart right after it installed such a snapshot.
t.test('a follower catches up by snapshot while writes go on, and restarts after installing it', async (t) => {
  const net = new InProcessNetwork({ seed: 9, maxDelayMs: 1, fifo: true })
  const dir = mkdtempSync(join(tmpdir(), 'metastore-catchup-'))
  const nodes = new Map<number, MetastoreNode<number>>()
  t.teardown(async () => {
    for (const n of nodes.values()) await n.close()
    net.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const options = { peers: [1, 2, 3], tickMs: 10, snapshotEvery: 25, compactKeep: 5, requestTimeoutMs: 5000 }
  const start = async (id: number): Promise<MetastoreNode<number>> => {
    const storage = id === 3 ? await levelStorage(dir) : await memoryStorage()
    const node = await createNode<number>({ ...options, id, storage, transport: net.transport() })
    nodes.set(id, node)
    return node
  }
  for (const id of [1, 2, 3]) await start(id)
  await nodes.get(1)!.waitForLeader()
  // Node 3 is cut off (and a leader elected among 1 and 2) while the log moves far past it.
  net.isolate(3)
  const acknowledged = new Map<string, number>()
  const write = async (i: number): Promise<void> => {
    for (const id of [1, 2]) {
      try {
        await nodes.get(id)!.kv.put(`k${i % 150}`, i)
        acknowledged.set(`k${i % 150}`, i)
        return
      } catch {
        // try the other one
      }
    }
  }
  let i = 0
  for (; i < 200; i++) await write(i)
  const snapshotIndex = () => Math.max(...[1, 2].map((id) => nodes.get(id)!.raft.status().commit))
  t.ok(snapshotIndex() > 100, 'the majority went on')

  // Heal while writes continue, so the state read out for node 3 is past its snapshot's index.
  let writing = true
  const writer = (async () => {
    while (writing) await write(i++)
  })()
  net.heal()
  const three = nodes.get(3)!
  let restored = false
  three.raft.once('membershipChanged', () => (restored = true))
  await until('node 3 to install a snapshot', () => restored)
  // Crash-stop node 3 right after the install, and start it again from its database.
  await three.close()
  nodes.delete(3)
  await start(3)
  const target = i + 30
  await until('30 more writes', () => i >= target)
  writing = false
  await writer
  const leader = [...nodes.values()].find((n) => n.status().role === 'leader') ?? nodes.get(1)!
  const commit = leader.status().commitIndex
  for (const [id, n] of nodes) await until(`node ${id} to apply through ${commit}`, () => n.status().appliedIndex >= commit)
  for (const [id, n] of nodes) {
    const { kvs } = await n.kv.range({ prefix: 'k', serializable: true })
    const have = new Map(kvs.map((kv) => [kv.key, kv.value]))
    const wrong = [...acknowledged].filter(([k, v]) => have.get(k) !== v)
    t.same(wrong, [], `node ${id} holds the last acknowledged value of every key`)
  }
  const revisions = [...nodes.values()].map((n) => n.status().revision)
  t.equal(new Set(revisions).size, 1, `every node is at the same revision (${revisions.join(', ')})`)
})
