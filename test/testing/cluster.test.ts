import t from 'tap'
import { MetastoreError } from '../../lib/errors.js'
import type { MetastoreNode } from '../../lib/node/create-node.js'
import { MessageType } from '../../lib/raft/types.js'
import { createTestCluster, type TestCluster } from '../../lib/testing/cluster.js'
import { VirtualClock } from '../../lib/testing/virtual-clock.js'

const codeOf = (err: unknown): string | undefined => (err instanceof MetastoreError ? err.code : undefined)

/** Every key under `prefix` that `node` holds, read locally (serializable). */
async function keysOn(node: MetastoreNode<unknown>, prefix: string): Promise<Set<string>> {
  const { kvs } = await node.kv.range({ prefix, serializable: true, keysOnly: true })
  return new Set(kvs.map((kv) => kv.key))
}

/**
 * Writers that put unique keys through every running node in turn, recording what was
 * acknowledged; `more(n)` waits (bounded) for n more acknowledgements.
 */
function writeLoad(cluster: TestCluster<number>, writers = 4) {
  const acknowledged: string[] = []
  let writing = true
  let n = 0
  const writer = async (w: number): Promise<void> => {
    while (writing) {
      const alive = [...cluster.nodes.values()]
      const node = alive[(n + w) % alive.length]
      const key = `load/${w}/${n++}`
      try {
        await node.kv.put(key, n)
        acknowledged.push(key)
      } catch {
        // Not acknowledged (crashed node, no leader yet, timeout): move on, after yielding so
        // that instant refusals cannot starve the event loop.
        await new Promise((r) => setImmediate(r))
      }
    }
  }
  const running = Array.from({ length: writers }, (_, w) => writer(w))
  return {
    acknowledged,
    async more(count: number): Promise<void> {
      const target = acknowledged.length + count
      await cluster.runUntil(() => acknowledged.length >= target, { timeoutMs: 20_000 })
    },
    async stop(): Promise<void> {
      writing = false
      await Promise.all(running)
    },
  }
}

t.test('waitForLeader finds the one leader; every node serves writes and linearizable reads', async (t) => {
  const cluster = await createTestCluster<string>({ nodes: 3, seed: 1 })
  t.teardown(() => cluster.close())
  const leader = await cluster.waitForLeader()
  t.equal(cluster.nodes.size, 3)
  t.equal([...cluster.nodes.values()].filter((n) => n.status().role === 'leader').length, 1, 'one leader')
  t.equal(cluster.leader()?.id, leader.id)
  for (const node of cluster.nodes.values()) await node.kv.put(`from/${node.id}`, `hello from ${node.id}`)
  for (const node of cluster.nodes.values()) {
    const { kvs } = await node.kv.range({ prefix: 'from/' })
    t.same(kvs.map((kv) => kv.value), ['hello from 1', 'hello from 2', 'hello from 3'], `node ${node.id} reads every write`)
  }
  t.throws(() => cluster.node(9), TypeError)
})

t.test('a partition: the majority writes on; the minority can neither write nor read; healing converges', async (t) => {
  // Virtual time: the minority's requests time out after 2 s of it, and the run takes no 2 s.
  const cluster = await createTestCluster<number>({ nodes: 3, seed: 2, clock: 'virtual', node: { requestTimeoutMs: 2000 } })
  t.teardown(() => cluster.close())
  t.ok(cluster.clock instanceof VirtualClock)
  const old = await cluster.waitForLeader()
  await cluster.drive(old.kv.put('before', 0))
  const others = [...cluster.nodes.keys()].filter((id) => id !== old.id)
  cluster.partition([old.id], others)

  await cluster.runUntil(() => {
    const l = cluster.leader()
    return l !== undefined && l.id !== old.id
  })
  const majority = cluster.leader()!
  t.not(majority.id, old.id, 'the majority elected a leader of its own')
  const acknowledged: string[] = ['before']
  for (let i = 0; i < 20; i++) {
    const node = cluster.node(others[i % 2])
    await cluster.drive(node.kv.put(`during/${i}`, i))
    acknowledged.push(`during/${i}`)
  }
  t.pass('the majority side took 20 writes')

  const startedAt = cluster.clock.now()
  const write = await cluster.drive(old.kv.put('minority', 1), { timeoutMs: 10_000 }).catch((e: unknown) => e)
  t.equal(codeOf(write), 'TIMEOUT', 'a write on the minority side fails with TIMEOUT')
  t.ok(cluster.clock.now() - startedAt <= 2100, 'within the request timeout (virtual ms)')
  const read = await cluster.drive(old.kv.get('before'), { timeoutMs: 10_000 }).catch((e: unknown) => e)
  t.equal(codeOf(read), 'TIMEOUT', 'a linearizable read on the minority side fails with TIMEOUT')
  const stale = await cluster.drive(old.kv.get('during/0', { serializable: true }))
  t.equal(stale, undefined, 'a serializable read there is stale: it never saw the majority’s writes')

  cluster.heal()
  await cluster.drive(majority.kv.put('after', 1))
  acknowledged.push('after')
  await cluster.waitForConvergence()
  for (const node of cluster.nodes.values()) {
    const held = new Set([...(await cluster.drive(keysOn(node, ''))).keys()])
    t.same(acknowledged.filter((k) => !held.has(k)), [], `node ${node.id} holds every acknowledged write`)
    t.notOk(held.has('minority'), `node ${node.id}: the write appended only on the minority side was discarded`)
  }
})

for (const storage of ['memory', 'leveldb'] as const) {
  t.test(`crashing the leader under write load and restarting it loses no acknowledged write (${storage})`, async (t) => {
    const cluster = await createTestCluster<number>({ nodes: 3, seed: 3, storage })
    t.teardown(() => cluster.close())
    const leader = await cluster.waitForLeader()
    const load = writeLoad(cluster)
    t.teardown(() => load.stop())
    await load.more(100)
    await cluster.crash(leader.id)
    t.notOk(cluster.nodes.has(leader.id), 'the crashed node is gone from the running set')
    await load.more(100)
    t.not((await cluster.waitForLeader()).id, leader.id, 'another node leads')
    const back = await cluster.restart(leader.id)
    t.equal(back.id, leader.id)
    await load.more(100)
    await load.stop()
    await cluster.waitForConvergence()
    for (const node of cluster.nodes.values()) {
      const held = await keysOn(node, 'load/')
      const missing = load.acknowledged.filter((k) => !held.has(k))
      t.same(missing, [], `node ${node.id} holds all ${load.acknowledged.length} acknowledged writes`)
    }
  })
}

t.test('a clean stop keeps the applied state; a crash keeps every acknowledged write', async (t) => {
  const cluster = await createTestCluster<number>({ nodes: 1, seed: 4 })
  t.teardown(() => cluster.close())
  const node = await cluster.waitForLeader()
  await node.kv.put('k', 1)
  const appliedBefore = node.status().appliedIndex
  await cluster.stop(1)
  const again = await cluster.restart(1)
  t.equal(again.status().appliedIndex, appliedBefore, 'a clean stop keeps the applied state (no replay needed)')
  await cluster.waitForLeader()
  await again.kv.put('k', 2)
  await cluster.crash(1)
  const third = await cluster.restart(1)
  // The applied index is written without sync (the log is the durable record): after a crash it
  // may be behind, and the node re-applies from its log.
  t.ok(third.status().appliedIndex <= third.status().lastIndex)
  await cluster.waitForLeader()
  t.equal((await third.kv.get('k'))?.value, 2, 'the acknowledged write survived the crash (its log entry was synced)')
})

t.test('addNode joins a learner, promotes it once caught up; removeNode takes a member out', async (t) => {
  const cluster = await createTestCluster<number>({ nodes: 3, seed: 5 })
  t.teardown(() => cluster.close())
  const leader = await cluster.waitForLeader()
  for (let i = 0; i < 50; i++) await leader.kv.put(`k/${i}`, i)
  const learner = await cluster.addNode({ asVoter: false })
  t.equal(learner.id, 4)
  t.same(learner.members().find((m) => m.id === 4)?.role, 'learner')
  t.equal((await keysOn(learner, 'k/')).size, 50, 'the learner caught up')
  const voter = await cluster.addNode()
  t.equal(voter.id, 5)
  t.same((await cluster.waitForLeader()).members().find((m) => m.id === 5)?.role, 'voter', 'promoted')
  t.equal((await keysOn(voter, 'k/')).size, 50)

  const victim = [...cluster.nodes.keys()].find((id) => id !== cluster.leader()!.id && id <= 3)!
  const members = await cluster.removeNode(victim)
  t.notOk(members.some((m) => m.id === victim), 'gone from the membership')
  t.notOk(cluster.nodes.has(victim), 'and stopped')
  t.throws(() => cluster.node(victim), TypeError)
  await t.rejects(cluster.restart(victim), TypeError, 'a removed node cannot come back')
  // 4 voters (1-3 less one, and 5) and a learner: writes go on.
  await (await cluster.waitForLeader()).kv.put('after-removal', 1)
  await cluster.waitForConvergence()
  for (const node of cluster.nodes.values()) t.equal((await node.kv.get('after-removal', { serializable: true }))?.value, 1, `node ${node.id}`)
})

t.test('on a virtual clock a lease expires after its TTL of virtual time, not before', async (t) => {
  const cluster = await createTestCluster<string>({ nodes: 3, seed: 6, clock: 'virtual' })
  t.teardown(() => cluster.close())
  const leader = await cluster.waitForLeader()
  const { id } = await cluster.drive(leader.lease.grant(5))
  const grantedAt = cluster.clock.now()
  await cluster.drive(leader.kv.put('session', 'alive', { lease: id }))
  await cluster.advance(4000)
  t.equal((await cluster.drive(leader.kv.get('session')))?.value, 'alive', 'still there 4 s into a 5 s lease')
  await cluster.runUntil(async () => (await leader.kv.get('session', { serializable: true })) === undefined, { timeoutMs: 10_000 })
  const elapsed = cluster.clock.now() - grantedAt
  t.ok(elapsed >= 5000, `expired after ${elapsed} ms of virtual time (TTL 5000)`)
  t.ok(elapsed < 7000, 'and not long after')
  t.same(await cluster.drive(leader.lease.list()), [], 'the lease is gone')
})

t.test('on a virtual clock over LevelDB, time waits for the disk: a crashed follower restarts and catches up', async (t) => {
  const cluster = await createTestCluster<number>({ nodes: 3, seed: 7, clock: 'virtual', storage: 'leveldb' })
  t.teardown(() => cluster.close())
  const leader = await cluster.waitForLeader()
  const term = leader.status().term
  const follower = [...cluster.nodes.keys()].find((id) => id !== leader.id)!
  await cluster.crash(follower)
  for (let i = 0; i < 20; i++) await cluster.drive(leader.kv.put(`k/${i}`, i))
  const back = await cluster.restart(follower)
  await cluster.waitForConvergence()
  t.equal((await keysOn(back, 'k/')).size, 20, 'the restarted follower caught up')
  // Virtual time stood still while fsyncs ran, so no heartbeat looked late: no election.
  t.equal(cluster.leader()?.status().term, term, 'the leader kept its term')
})

t.test('a virtual minute of a 3-node cluster passes in a fraction of the time, with one leader throughout', async (t) => {
  const cluster = await createTestCluster<number>({ nodes: 3, seed: 8, clock: 'virtual' })
  t.teardown(() => cluster.close())
  const leader = await cluster.waitForLeader()
  const term = leader.status().term
  const sentBefore = cluster.messagesSent(MessageType.Heartbeat)
  const started = performance.now()
  const virtualStart = cluster.clock.now()
  await cluster.advance(60_000)
  t.comment(`60 s of virtual time took ${Math.round(performance.now() - started)} ms`)
  t.equal(cluster.clock.now() - virtualStart, 60_000)
  // One heartbeat per tick (100 ms on a virtual clock) to each of two followers.
  t.ok(cluster.messagesSent(MessageType.Heartbeat) - sentBefore >= 1100, 'heartbeats flowed all along')
  t.equal(cluster.leader()?.id, leader.id)
  t.equal(cluster.leader()?.status().term, term, 'no election')
  await cluster.drive(leader.kv.put('still', 1))
})

t.test('the same seed on a virtual clock elects the same leader at the same virtual time', async (t) => {
  const run = async (): Promise<[number, number, number]> => {
    const cluster = await createTestCluster({ nodes: 5, seed: 42, clock: 'virtual' })
    try {
      const leader = await cluster.waitForLeader()
      return [leader.id, leader.status().term, cluster.clock.now()]
    } finally {
      await cluster.close()
    }
  }
  const first = await run()
  t.same(await run(), first, `leader ${first[0]}, term ${first[1]}, at ${first[2]} ms`)
})

t.test('bad options are TypeErrors', async (t) => {
  await t.rejects(createTestCluster({ nodes: 0 }), TypeError)
  await t.rejects(createTestCluster({ storage: 'floppy' as 'memory' }), TypeError)
  await t.rejects(createTestCluster({ clock: 'sundial' as 'real' }), TypeError)
})
