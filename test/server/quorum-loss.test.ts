// With two of three nodes down, the one left answers every request within its bound (503, never
// a hang), reports itself unhealthy, and serves again once a majority is back.
import t from 'tap'
import { call, ProcCluster, putEventually, waitFor } from './helpers.js'

t.test('a node without a majority answers 503 within its request timeout', async (t) => {
  const cluster = await ProcCluster.create(3, ['--request-timeout-ms', '1500'])
  t.teardown(() => cluster.destroy())
  for (const id of [1, 2, 3]) cluster.start(id, 3)
  await cluster.leader([1, 2, 3])
  await putEventually(cluster.clientUrl(1), 'before', 'ok')

  await cluster.kill(2)
  await cluster.kill(3)

  // The client's own bound (20 s) is far above the server's (1.5 s): a 503 proves the server's.
  const put = await call(`${cluster.clientUrl(1)}/after`, { method: 'PUT', body: 'x', timeoutMs: 20_000 })
  t.equal(put.status, 503, 'a write gets 503')
  t.match(put.json, { code: /^(TIMEOUT|UNAVAILABLE)$/ }, 'with a stable code')
  const get = await call(`${cluster.clientUrl(1)}/before`, { timeoutMs: 20_000 })
  t.equal(get.status, 503, 'a linearizable read gets 503')
  const v1 = await call(`${cluster.clientUrl(1)}/v1/kv/before`, { timeoutMs: 20_000 })
  t.equal(v1.status, 503, 'so does the JSON API')
  const local = await call(`${cluster.clientUrl(1)}/v1/kv/before?serializable=true`)
  t.equal(local.status, 200, 'a serializable read is still served from local state')
  t.equal(local.json.kv.value, 'ok')

  const health = await waitFor('/health to report the lost majority', async () => {
    const a = await call(`${cluster.clientUrl(1)}/health`)
    return a.status === 503 ? a.json : undefined
  })
  t.equal(health.health, false)
  t.type(health.reason, 'string')

  cluster.start(2, 3)
  await cluster.leader([1, 2])
  await putEventually(cluster.clientUrl(1), 'after', 'back')
  t.equal((await call(`${cluster.clientUrl(2)}/after`)).text, 'back', 'writes go through again with a majority')
})
