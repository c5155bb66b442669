// A member added to a running cluster over real sockets (TCP, then HTTP) catches up from a
// snapshot streamed out of the leader's database into its own (LevelDB), and holds every key.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { createNode, type MetastoreNode } from '../../lib/node/create-node.js'
import { levelStorage } from '../../lib/storage/level-engine.js'
import { memoryStorage } from '../../lib/storage/memory-engine.js'
import { HttpTransport } from '../../transports/http.js'
import { TcpTransport } from '../../transports/tcp.js'
import type { Transport } from '../../transports/transport.js'
import { until } from './kit.js'

interface Listening {
  readonly transport: Transport
  readonly address: string
}

const kinds: Record<string, () => Promise<Listening>> = {
  tcp: async () => {
    const transport = new TcpTransport({ listen: { host: '127.0.0.1', port: 0 }, clusterId: 'streamed', secret: 's3cret' })
    await transport.listen()
    return { transport, address: `127.0.0.1:${transport.port}` }
  },
  http: async () => {
    const transport = new HttpTransport({ listen: { host: '127.0.0.1', port: 0 }, clusterId: 'streamed', secret: 's3cret' })
    await transport.listen()
    return { transport, address: `http://127.0.0.1:${transport.port}` }
  },
}

for (const [kind, make] of Object.entries(kinds)) {
  t.test(`a new member catches up from a streamed snapshot over ${kind}`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), `metastore-stream-${kind}-`))
    const nodes = new Map<number, MetastoreNode<string>>()
    const transports: Transport[] = []
    t.teardown(async () => {
      for (const n of nodes.values()) await n.close()
      for (const tr of transports) await tr.close()
      rmSync(dir, { recursive: true, force: true })
    })
    const listening = await Promise.all([1, 2, 3, 4].map(() => make()))
    transports.push(...listening.map((l) => l.transport))
    const peers = [1, 2, 3].map((id) => ({ id, address: listening[id - 1].address }))
    const options = { tickMs: 10, snapshotEvery: 50, compactKeep: 5, requestTimeoutMs: 10_000 }
    for (const { id } of peers) {
      nodes.set(id, await createNode<string>({ ...options, id, peers, storage: await memoryStorage(), transport: listening[id - 1].transport }))
    }
    const leaderId = await nodes.get(1)!.waitForLeader()
    const leader = nodes.get(leaderId)!
    // Enough keys for several 1 MiB chunks, and enough entries that the log was compacted.
    const value = 'x'.repeat(2000)
    for (let i = 0; i < 1500; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => leader.kv.put(`key/${String(i + j).padStart(5, '0')}`, `${i + j}:${value}`)))
    }
    const four = await createNode<string>({ ...options, id: 4, join: true, peers, storage: await levelStorage(dir), transport: listening[3].transport })
    nodes.set(4, four)
    await leader.addLearner(4, { address: listening[3].address })
    const target = leader.status().commitIndex
    await until('the new member to apply everything committed', () => four.status().appliedIndex >= target, 30_000)
    const { kvs } = await four.kv.range({ prefix: 'key/', serializable: true })
    t.equal(kvs.length, 1500, 'every key is on the new member')
    t.equal(kvs[1234].value, `1234:${value}`)
    t.equal(four.status().revision, leader.status().revision, 'at the leader revision')
    const rendered = leader.metrics.render()
    const sum = /metastore_snapshot_size_bytes_sum (\d+(?:\.\d+)?(?:e\+\d+)?)/.exec(rendered)
    t.ok(sum !== null && Number(sum[1]) > 3_000_000, `the leader streamed a snapshot of the state (${sum?.[1]} bytes)`)
  })
}
