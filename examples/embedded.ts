/**
 * A 3-node metastore cluster inside one process, as a unit test of yours would run it:
 *
 *   npm run build && node build/examples/embedded.js
 */
import { createNode, memoryStorage, type MetastoreNode } from '../lib/index.js'
import { InProcessNetwork } from '../lib/testing.js'

interface Account {
  readonly owner: string
  readonly balance: number
}

const network = new InProcessNetwork({ seed: 42, maxDelayMs: 2, fifo: true })
const nodes: MetastoreNode<Account>[] = []
for (const id of [1, 2, 3]) {
  nodes.push(await createNode<Account>({ id, peers: [1, 2, 3], storage: await memoryStorage(), transport: network.transport(), tickMs: 10 }))
}
const [a, b, c] = nodes
console.log(`leader: node ${await a.waitForLeader()}`)

await a.kv.put('account/ada', { owner: 'ada', balance: 100 })
await b.kv.put('account/bob', { owner: 'bob', balance: 50 })

// Move 30 from ada to bob, atomically, only if neither account changed since we read them.
const ada = (await c.kv.get('account/ada'))!
const bob = (await c.kv.get('account/bob'))!
const moved = await c.kv.txn({
  compare: [
    { key: 'account/ada', target: 'modRevision', op: '=', value: ada.modRevision },
    { key: 'account/bob', target: 'modRevision', op: '=', value: bob.modRevision },
  ],
  success: [
    { put: { key: 'account/ada', value: { owner: 'ada', balance: ada.value.balance - 30 } } },
    { put: { key: 'account/bob', value: { owner: 'bob', balance: bob.value.balance + 30 } } },
  ],
})
console.log(`transfer ${moved.succeeded ? 'committed' : 'refused'} at revision ${moved.revision}`)

// Any node answers with the latest state (reads are linearizable by default).
const { kvs } = await b.kv.range({ prefix: 'account/' })
for (const kv of kvs) console.log(`${kv.key}: ${kv.value.balance}`)

for (const n of nodes) await n.close()
network.close()
