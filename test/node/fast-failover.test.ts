// A follower whose leader falls silent probes the leader's address; when it refuses
// connections (the process is gone), the followers elect a new leader without waiting out the
// election timeout. The metrics say which way the new leader came.
import t from 'tap'
import { createNode, type MetastoreNode } from '../../lib/node/create-node.js'
import { memoryStorage } from '../../lib/storage/memory-engine.js'
import { TcpTransport } from '../../transports/tcp.js'
import { until } from './kit.js'

function count(node: MetastoreNode<string>, name: string, labels?: Record<string, string>): number {
  return node.metrics.counter(name, '').get(labels)
}

t.test('followers elect a new leader at once when the leader process is gone; a live leader is not probed away', async (t) => {
  const transports = [1, 2, 3].map(() => new TcpTransport({ listen: { host: '127.0.0.1', port: 0 }, clusterId: 'fast-failover' }))
  for (const tr of transports) await tr.listen()
  const peers = transports.map((tr, i) => ({ id: i + 1, address: `127.0.0.1:${tr.port}` }))
  const nodes = new Map<number, MetastoreNode<string>>()
  t.teardown(async () => {
    for (const n of nodes.values()) await n.close()
    for (const tr of transports) await tr.close()
  })
  for (const { id } of peers) {
    // Elections by timeout after 3 to 6 s; a probe after 3 silent heartbeats (15 ms).
    nodes.set(id, await createNode({ id, peers, storage: await memoryStorage(), transport: transports[id - 1], tickMs: 5, electionTick: 600, requestTimeoutMs: 20_000 }))
  }
  await until('a leader', () => [...nodes.values()].some((n) => n.status().role === 'leader'), 30_000)
  const first = [...nodes.values()].find((n) => n.status().role === 'leader')!
  await first.kv.put('k', 'v1')
  // Quiet for a while: heartbeats keep the followers from probing the leader away.
  const term = first.status().term
  await new Promise((r) => setTimeout(r, 1000))
  t.equal(first.status().role, 'leader', 'a live leader keeps leading')
  for (const n of nodes.values()) t.equal(n.status().term, term, `node ${n.id}: no new term while the leader lives`)
  for (const n of nodes.values()) t.equal(count(n, 'metastore_leader_probes_total', { result: 'down' }), 0, `node ${n.id}: no probe found a live leader down`)
  // The leader's process goes away: its node and its listening socket close.
  const gone = first.id
  await first.close()
  nodes.delete(gone)
  // How the new leader came is told by the metrics below, not by the time it took.
  await until('a new leader among the survivors', () => [...nodes.values()].some((n) => n.status().role === 'leader'), 30_000)
  const next = [...nodes.values()].find((n) => n.status().role === 'leader')!
  t.not(next.id, gone)
  t.ok(next.status().term > term, 'elected at a later term')
  const downs = [...nodes.values()].reduce((sum, n) => sum + count(n, 'metastore_leader_probes_total', { result: 'down' }), 0)
  t.ok(downs >= 1, `the survivors found the old leader's address refusing connections (${downs} probes)`)
  t.equal(count(next, 'metastore_leader_gone_campaigns_total'), 1, 'the new leader campaigned because the old one was gone, not after its election timeout')
  await next.kv.put('k', 'v2')
  for (const n of nodes.values()) {
    await until(`node ${n.id} applies the write`, async () => (await n.kv.get('k', { serializable: true }))?.value === 'v2', 30_000)
  }
})
