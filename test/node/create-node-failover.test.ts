import t from 'tap'
import { MemoryLevel } from 'memory-level'
import { createNode, type MetastoreNode } from '../../lib/node/create-node.js'
import { LevelLogStore } from '../../lib/storage/level-log-store.js'
import { InProcessNetwork } from '../../transports/inprocess.js'

t.test('stopping the leader under write load loses no acknowledged write', async (t) => {
  const net = new InProcessNetwork({ seed: 11, maxDelayMs: 2, fifo: true })
  const dbs = new Map([1, 2, 3].map((id) => [id, new MemoryLevel<string, string>()]))
  const nodes = new Map<number, MetastoreNode<number>>()
  const start = async (id: number) => {
    const storage = await LevelLogStore.open(dbs.get(id)!)
    nodes.set(id, await createNode<number>({ id, peers: [1, 2, 3], storage, transport: net.transport(), tickMs: 10, requestTimeoutMs: 2000 }))
  }
  for (const id of [1, 2, 3]) await start(id)
  let writing = true
  t.teardown(async () => {
    writing = false
    for (const n of nodes.values()) await n.close()
    net.close()
  })
  const leader = await nodes.get(1)!.waitForLeader()

  const acknowledged: string[] = []
  let n = 0
  const writer = async (w: number) => {
    while (writing) {
      const alive = [...nodes.values()]
      const node = alive[(n + w) % alive.length]
      const key = `w/${w}/${n++}`
      try {
        await node.kv.put(key, n)
        acknowledged.push(key)
      } catch {
        // Not acknowledged (the node closed, no leader yet, timeout): the writer moves on, after
        // yielding, so that instant refusals cannot starve the event loop.
        await new Promise((r) => setImmediate(r))
      }
    }
  }
  const writers = [0, 1, 2, 3].map((w) => writer(w))
  /** Waits (bounded) until `count` more writes were acknowledged. */
  const acknowledgedMore = async (count: number): Promise<void> => {
    const target = acknowledged.length + count
    const deadline = Date.now() + 10_000
    while (acknowledged.length < target) {
      if (Date.now() > deadline) throw new Error(`only ${acknowledged.length} of ${target} writes acknowledged in 10 s`)
      await new Promise((r) => setTimeout(r, 5))
    }
  }
  await acknowledgedMore(50)
  await nodes.get(leader)!.close()
  nodes.delete(leader)
  await acknowledgedMore(100)
  t.pass('writes went on without the old leader')
  await start(leader)
  await acknowledgedMore(50)
  writing = false
  await Promise.all(writers)

  for (const [id, node] of nodes) {
    const { kvs } = await node.kv.range({ prefix: 'w/' })
    const present = new Set(kvs.map((kv) => kv.key))
    const missing = acknowledged.filter((k) => !present.has(k))
    t.same(missing, [], `node ${id} holds all ${acknowledged.length} acknowledged writes`)
  }
})
