import t from 'tap'
import { MemoryLevel } from 'memory-level'
import { encodeEnvelope } from '../../lib/kv/codec.js'
import { MvccStore } from '../../lib/kv/mvcc-store.js'
import type { Command } from '../../lib/kv/commands.js'
import { KvStateMachine } from '../../lib/node/kv-state-machine.js'
import { RaftNode } from '../../lib/node/raft-node.js'
import { SeededRng } from '../../lib/raft/rng.js'
import { LevelLogStore } from '../../lib/storage/level-log-store.js'
import { InProcessNetwork } from '../../transports/inprocess.js'

const enc = new TextEncoder()
const dec = new TextDecoder()

interface Member {
  db: MemoryLevel<string, string>
  node?: RaftNode
  kv?: MvccStore
}

/**
 * Three nodes, each keeping its Raft log and its MVCC state in ONE database (as DESIGN asks), on
 * an in-process network. Disks survive a node's restart.
 */
class KvCluster {
  readonly net = new InProcessNetwork({ seed: 5, maxDelayMs: 2, fifo: true })
  readonly members = new Map<number, Member>()
  #seq = 0

  async start(id: number, opts: { peers?: number[]; join?: boolean } = {}): Promise<void> {
    let m = this.members.get(id)
    if (!m) this.members.set(id, (m = { db: new MemoryLevel<string, string>() }))
    const store = await LevelLogStore.open(m.db)
    m.kv = await MvccStore.open(m.db)
    m.node = await RaftNode.start({
      id,
      peers: opts.peers,
      join: opts.join,
      store,
      transport: this.net.transport(),
      stateMachine: new KvStateMachine(m.kv, m.db),
      tickMs: 10,
      snapshotEvery: 25,
      compactKeep: 5,
      requestTimeoutMs: 4000,
      rng: new SeededRng(id),
    })
  }

  async stop(id: number): Promise<void> {
    const m = this.members.get(id)!
    await m.node?.close()
    m.node = undefined
  }

  async leader(): Promise<RaftNode> {
    const deadline = Date.now() + 5000
    for (;;) {
      for (const m of this.members.values()) if (m.node?.role === 'leader') return m.node
      if (Date.now() > deadline) throw new Error('no leader')
      await new Promise((r) => setTimeout(r, 10))
    }
  }

  /** Proposes a command through node `via`, as a client with its own id and sequence. */
  run(via: number, cmd: Command): Promise<unknown> {
    const clientId = `test-${via}`
    const seq = ++this.#seq
    return this.members.get(via)!.node!.propose(`${clientId}:${seq}`, encodeEnvelope({ clientId, seq, cmd }))
  }

  /** A linearizable get on node `id`: a read barrier, then the local MVCC store. */
  async get(id: number, key: string): Promise<string | undefined> {
    const m = this.members.get(id)!
    await m.node!.readBarrier()
    const kv = await m.kv!.get(enc.encode(key))
    return kv ? dec.decode(kv.value) : undefined
  }

  async close(): Promise<void> {
    for (const id of this.members.keys()) await this.stop(id)
    this.net.close()
  }
}

t.test('puts through the log, linearizable gets on any node, etcd revisions', async (t) => {
  const c = new KvCluster()
  t.teardown(() => c.close())
  for (const id of [1, 2, 3]) await c.start(id, { peers: [1, 2, 3] })
  await c.leader()
  const r1 = (await c.run(2, { type: 'put', key: enc.encode('a'), value: enc.encode('1') })) as { revision: number }
  const r2 = (await c.run(3, { type: 'put', key: enc.encode('a'), value: enc.encode('2') })) as { revision: number }
  t.equal(r2.revision, r1.revision + 1, 'each put is one revision')
  for (const id of [1, 2, 3]) t.equal(await c.get(id, 'a'), '2', `node ${id} reads the latest value`)
  const kv = await c.members.get(1)!.kv!.get(enc.encode('a'))
  t.equal(kv?.version, 2)
  t.equal(kv?.createRevision, r1.revision)
  t.equal(kv?.modRevision, r2.revision)
})

t.test('a compare-and-swap transaction decides once, on every node alike', async (t) => {
  const c = new KvCluster()
  t.teardown(() => c.close())
  for (const id of [1, 2, 3]) await c.start(id, { peers: [1, 2, 3] })
  await c.leader()
  await c.run(1, { type: 'put', key: enc.encode('lock'), value: enc.encode('free') })
  const cas = (via: number, owner: string) =>
    c.run(via, {
      type: 'txn',
      compare: [{ key: enc.encode('lock'), target: 'value', result: '=', value: enc.encode('free') }],
      success: [{ type: 'put', key: enc.encode('lock'), value: enc.encode(owner) }],
      failure: [],
    }) as Promise<{ succeeded: boolean }>
  const results = await Promise.all([cas(1, 'n1'), cas(2, 'n2'), cas(3, 'n3')])
  t.equal(results.filter((r) => r.succeeded).length, 1, 'exactly one swap wins')
  const owner = await c.get(2, 'lock')
  t.ok(['n1', 'n2', 'n3'].includes(owner!), `owned by ${owner}`)
  t.equal(await c.get(3, 'lock'), owner)
})

t.test('restart resumes from the shared database; a new node joins by snapshot', async (t) => {
  const c = new KvCluster()
  t.teardown(() => c.close())
  for (const id of [1, 2, 3]) await c.start(id, { peers: [1, 2, 3] })
  const leader = await c.leader()
  for (let i = 0; i < 60; i++) await c.run(leader.id, { type: 'put', key: enc.encode(`k${i}`), value: enc.encode(`v${i}`) })
  const follower = [1, 2, 3].find((id) => id !== leader.id)!
  await c.stop(follower)
  await c.run(leader.id, { type: 'put', key: enc.encode('while-down'), value: enc.encode('x') })
  await c.start(follower)
  t.equal(await c.get(follower, 'while-down'), 'x', 'caught up after the restart')
  t.equal(await c.get(follower, 'k0'), 'v0', 'kept what it had')
  await c.start(4, { join: true })
  const cs = await (await c.leader()).proposeConfChange({ changes: [{ type: 'addLearner', nodeId: 4 }] })
  t.same(cs.learners, [4])
  await c.run(leader.id, { type: 'put', key: enc.encode('after-join'), value: enc.encode('y') })
  const deadline = Date.now() + 5000
  let got: string | undefined
  while (Date.now() < deadline) {
    const kv = await c.members.get(4)!.kv!.get(enc.encode('after-join'))
    if (kv) {
      got = dec.decode(kv.value)
      break
    }
    await new Promise((r) => setTimeout(r, 10))
  }
  t.equal(got, 'y', 'the learner applies new writes')
  const k0 = await c.members.get(4)!.kv!.get(enc.encode('k0'))
  t.equal(k0 && dec.decode(k0.value), 'v0', 'and holds the state from before it joined (from the snapshot)')
})
