import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { createNode, type MetastoreNode } from '../../lib/node/create-node.js'
import type { NodeId } from '../../lib/raft/types.js'
import { levelStorage } from '../../lib/storage/level-engine.js'
import { memoryStorage } from '../../lib/storage/memory-engine.js'
import { InProcessNetwork } from '../../transports/inprocess.js'
import type { Transport } from '../../transports/transport.js'
import { until } from './kit.js'

/** Wraps a transport and records what the node told it about its peers. */
function recording(inner: Transport): { transport: Transport; peers: Map<NodeId, string> } {
  const peers = new Map<NodeId, string>()
  const transport: Transport = {
    start: (self, handler) => inner.start(self, handler),
    send: (to, messages) => inner.send(to, messages),
    addPeer(id, address) {
      peers.set(id, address)
      inner.addPeer(id, address)
    },
    removePeer(id) {
      peers.delete(id)
      inner.removePeer(id)
    },
    close: () => inner.close(),
  }
  return { transport, peers }
}

const addressOf = (id: number): string => `mem://node-${id}`
const peers = [1, 2, 3].map((id) => ({ id, address: addressOf(id) }))

t.test('member addresses are replicated, reach the transport, survive snapshots and restarts', async (t) => {
  const net = new InProcessNetwork({ seed: 5, maxDelayMs: 1, fifo: true })
  const dir = mkdtempSync(join(tmpdir(), 'metastore-addresses-'))
  const nodes = new Map<number, MetastoreNode<number>>()
  const recorders = new Map<number, Map<NodeId, string>>()
  t.teardown(async () => {
    for (const n of nodes.values()) await n.close()
    net.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const start = async (id: number, join = false): Promise<MetastoreNode<number>> => {
    const r = recording(net.transport())
    recorders.set(id, r.peers)
    const storage = id === 2 ? await levelStorage(dir) : await memoryStorage()
    const node = await createNode<number>({ id, peers, join, storage, transport: r.transport, tickMs: 10, snapshotEvery: 20, compactKeep: 5, requestTimeoutMs: 5000 })
    nodes.set(id, node)
    return node
  }
  for (const id of [1, 2, 3]) await start(id)
  const one = nodes.get(1)!
  await one.waitForLeader()
  t.same(
    one.members().map((m) => m.address),
    peers.map((p) => p.address),
    'the initial members carry the addresses they were bootstrapped with',
  )
  t.same([...recorders.get(1)!.entries()].sort(), [[2, addressOf(2)], [3, addressOf(3)]], 'the transport was told where the other members are')

  // Enough writes that a joining node must be sent a snapshot.
  for (let i = 0; i < 60; i++) await one.kv.put(`k${i}`, i)
  const four = await start(4, true)
  const members = await one.addLearner(4, { address: addressOf(4) })
  t.same(members.find((m) => m.id === 4), { id: 4, role: 'learner', address: addressOf(4) })
  for (const id of [1, 2, 3]) await until(`node ${id} to learn node 4's address`, () => recorders.get(id)!.get(4) === addressOf(4))
  t.pass('every member told its transport where node 4 is')
  await until('node 4 to catch up', () => four.status().appliedIndex >= one.status().commitIndex)
  t.same(
    four.members().map((m) => [m.id, m.address]),
    [1, 2, 3, 4].map((id) => [id, addressOf(id)]),
    'the joining node learned every address (from the snapshot it was sent)',
  )
  t.same((await four.kv.get('k59', { serializable: true }))?.value, 59, 'and the data')

  // A restart keeps the addresses without being given them again.
  await nodes.get(2)!.close()
  const r = recording(net.transport())
  recorders.set(2, r.peers)
  const two = await createNode<number>({ id: 2, storage: await levelStorage(dir), transport: r.transport, tickMs: 10, requestTimeoutMs: 5000 })
  nodes.set(2, two)
  t.same(two.members().map((m) => [m.id, m.address]), [1, 2, 3, 4].map((id) => [id, addressOf(id)]), 'restarted with every address from disk')
  t.equal(r.peers.get(4), addressOf(4), 'and told its transport')

  await one.remove(4)
  for (const id of [1, 2, 3]) await until(`node ${id} to forget node 4`, () => !recorders.get(id)!.has(4))
  t.pass('every member told its transport that node 4 left')
  await until('node 4 to apply its removal', () => four.status().removed)
  t.ok(four.status().removed, 'node 4 knows it was removed')
  await t.rejects(four.kv.put('x', 1), { code: 'REMOVED' }, 'the removed node refuses writes at once')
  await t.rejects(four.kv.get('k1'), { code: 'REMOVED' }, 'and linearizable reads')
})
