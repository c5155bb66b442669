import t from 'tap'
import { createNode, type MetastoreNode } from '../../lib/node/create-node.js'
import { SeededRng } from '../../lib/raft/rng.js'
import { memoryStorage } from '../../lib/storage/memory-engine.js'
import { checkLinearizable, kvModel, type KvInput, type KvOutput, type Operation } from '../../lib/testing/linearizability.js'
import { InProcessNetwork } from '../../transports/inprocess.js'

/**
 * Concurrent clients against a real 3-node cluster on a faulty in-process network (drops,
 * reordering, partitions that come and go). Every operation is recorded with its call and return
 * times; one that failed has an unknown outcome. The history must be linearizable.
 */
async function run(seed: number): Promise<{ ops: number; acknowledged: number; ok: boolean; key?: string }> {
  const rng = new SeededRng(seed)
  const net = new InProcessNetwork({ seed, dropRate: 0.03, minDelayMs: 0, maxDelayMs: 4 })
  const nodes: MetastoreNode<string>[] = []
  for (const id of [1, 2, 3]) {
    nodes.push(await createNode<string>({ id, peers: [1, 2, 3], storage: await memoryStorage(), transport: net.transport(), tickMs: 10, requestTimeoutMs: 600 }))
  }
  const history: Array<Operation<KvInput, KvOutput>> = []
  const now = (): number => performance.now()
  let running = true
  let seq = 0
  const client = async (c: number) => {
    while (running) {
      const node = nodes[rng.int(3)]
      const key = `k${rng.int(3)}`
      const kind = rng.int(3)
      const call = now()
      if (kind === 0) {
        const value = `v${c}-${seq++}`
        try {
          await node.kv.put(key, value)
          history.push({ key, input: { type: 'put', value }, output: true, call, return: now() })
        } catch {
          history.push({ key, input: { type: 'put', value }, output: undefined, call, return: undefined })
        }
      } else if (kind === 1) {
        try {
          const kv = await node.kv.get(key)
          history.push({ key, input: { type: 'get' }, output: kv?.value ?? null, call, return: now() })
        } catch {
          // A read that failed changed nothing and tells nothing.
        }
      } else {
        const expected = `v${rng.int(4)}-${rng.int(Math.max(1, seq))}`
        const value = `c${c}-${seq++}`
        try {
          const r = await node.kv.txn({
            compare: [{ key, target: 'value', op: '=', value: expected }],
            success: [{ put: { key, value } }],
          })
          history.push({ key, input: { type: 'cas', expected, value }, output: r.succeeded, call, return: now() })
        } catch {
          history.push({ key, input: { type: 'cas', expected, value }, output: undefined, call, return: undefined })
        }
      }
    }
  }
  const chaos = async () => {
    while (running) {
      await new Promise((r) => setTimeout(r, 150 + rng.int(200)))
      if (!running) break
      if (rng.chance(0.5)) net.isolate(1 + rng.int(3))
      else net.partition([1 + rng.int(3)], [])
      await new Promise((r) => setTimeout(r, 100 + rng.int(200)))
      net.heal()
    }
  }
  await nodes[0].waitForLeader()
  const tasks = [0, 1, 2, 3].map((c) => client(c))
  const faults = chaos()
  await new Promise((r) => setTimeout(r, 2000))
  running = false
  net.heal()
  await Promise.all(tasks)
  await faults
  for (const n of nodes) await n.close()
  net.close()
  const r = checkLinearizable(history, kvModel)
  return { ops: history.length, acknowledged: history.filter((o) => o.return !== undefined).length, ok: r.ok && !r.timedOut, key: r.key }
}

for (const seed of [1, 2, 3]) {
  t.test(`seed ${seed}: concurrent puts, gets and compare-and-swaps under faults are linearizable`, async (t) => {
    const r = await run(seed)
    t.ok(r.acknowledged > 50, `${r.acknowledged} of ${r.ops} operations answered`)
    t.ok(r.ok, r.ok ? 'linearizable' : `the history of ${r.key} is not linearizable`)
  })
}
