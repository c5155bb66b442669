/**
 * Unit tests of your own code against a real metastore cluster inside the test process, with the
 * testing kit: a 3-node cluster on an in-process network, leader crashes, a partition, and a
 * lease that runs out on simulated time. In your project the kit is
 * `import { createTestCluster } from 'metastore-kv/testing'`.
 *
 *   npm run build && node build/examples/unit-tests.js
 */
import assert from 'node:assert/strict'
import type { Kv, MetastoreError } from '../lib/index.js'
import { createTestCluster, type TestCluster, type TestClusterOptions } from '../lib/testing.js'

// --- The code under test: jobs that exactly one worker may claim. -----------------------------

/** Claims `job` for `worker` unless someone holds it; with a lease, the claim ends with the lease. */
async function claim(kv: Kv<string>, job: string, worker: string, lease?: number): Promise<boolean> {
  const r = await kv.txn({
    compare: [{ key: `claims/${job}`, target: 'createRevision', op: '=', value: 0 }],
    success: [{ put: { key: `claims/${job}`, value: worker, lease } }],
  })
  return r.succeeded
}

async function owner(kv: Kv<string>, job: string): Promise<string | undefined> {
  return (await kv.get(`claims/${job}`))?.value
}

// --- The tests. ----------------------------------------------------------------------------------

/** Runs `body` on a fresh cluster, closed afterwards whatever happens. */
async function test(name: string, options: TestClusterOptions<string>, body: (cluster: TestCluster<string>) => Promise<void>): Promise<void> {
  const cluster = await createTestCluster<string>(options)
  try {
    await body(cluster)
    console.log(`ok - ${name}`)
  } finally {
    await cluster.close()
  }
}

await test('one claim wins when workers race through different nodes', { nodes: 3, seed: 1 }, async (cluster) => {
  await cluster.waitForLeader()
  const nodes = [...cluster.nodes.values()]
  const results = await Promise.all(nodes.map((node) => claim(node.kv, 'job-1', `worker-${node.id}`)))
  assert.equal(results.filter(Boolean).length, 1)
  const winner = `worker-${nodes[results.indexOf(true)].id}`
  for (const node of nodes) assert.equal(await owner(node.kv, 'job-1'), winner)
})

await test('a claim outlives the crash of the leader', { nodes: 3, seed: 2 }, async (cluster) => {
  const leader = await cluster.waitForLeader()
  assert.equal(await claim(leader.kv, 'job-2', 'worker-a'), true)
  await cluster.crash(leader.id)
  const next = await cluster.waitForLeader()
  assert.notEqual(next.id, leader.id)
  assert.equal(await owner(next.kv, 'job-2'), 'worker-a')
  assert.equal(await claim(next.kv, 'job-2', 'worker-b'), false)
  const back = await cluster.restart(leader.id)
  await cluster.waitForConvergence()
  assert.equal(await owner(back.kv, 'job-2'), 'worker-a')
})

await test('a worker cut off from the majority cannot claim', { nodes: 3, seed: 3, node: { requestTimeoutMs: 500 } }, async (cluster) => {
  const leader = await cluster.waitForLeader()
  const follower = [...cluster.nodes.values()].find((n) => n.id !== leader.id)!
  cluster.isolate(follower.id)
  await assert.rejects(claim(follower.kv, 'job-3', 'worker-cut-off'), (err: MetastoreError) => err.code === 'TIMEOUT')
  assert.equal(await claim(leader.kv, 'job-3', 'worker-ok'), true)
  cluster.heal()
  await cluster.waitForConvergence()
  assert.equal(await owner(follower.kv, 'job-3'), 'worker-ok')
})

// On a virtual clock nothing waits for real: the cluster runs as fast as the machine goes, and a
// test moves time with advance(), runUntil() and drive() (which moves it until a promise settles).
await test('a claim held by a dead worker expires with its lease', { nodes: 3, seed: 4, clock: 'virtual' }, async (cluster) => {
  const leader = await cluster.waitForLeader()
  const { id: lease } = await cluster.drive(leader.lease.grant(10))
  assert.equal(await cluster.drive(claim(leader.kv, 'job-4', 'worker-dead', lease)), true)
  // The worker never sends a keep-alive. Nine seconds on, the claim still stands...
  await cluster.advance(9_000)
  assert.equal(await cluster.drive(claim(leader.kv, 'job-4', 'worker-next')), false)
  // ...and once the lease has run out, another worker takes the job.
  await cluster.runUntil(async () => (await leader.kv.get('claims/job-4', { serializable: true })) === undefined)
  assert.equal(await cluster.drive(claim(leader.kv, 'job-4', 'worker-next')), true)
})

console.log('all passed')
