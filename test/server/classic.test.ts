// The classic REST API against real `metastore` processes (LevelDB, HTTP peers): values round
// trip, followers serve writes, the cluster survives its leader being SIGKILLed, the leader comes
// back and catches up, and a fourth node is added with POST /4 + --join and removed with DELETE /4.
import t from 'tap'
import { call, jsonCall, ProcCluster, putEventually, waitFor } from './helpers.js'

t.test('classic API on a 3-node cluster of processes', async (t) => {
  const cluster = await ProcCluster.create(4)
  t.teardown(() => cluster.destroy())
  for (const id of [1, 2, 3]) cluster.start(id, 3)
  const leader = await cluster.leader([1, 2, 3]).catch((err: Error) => {
    throw new Error(`${err.message}\n${cluster.logs()}`)
  })
  const followers = [1, 2, 3].filter((id) => id !== leader)

  await t.test('PUT then GET round-trips the value on every node; a missing key is 404', async (t) => {
    const put = await call(`${cluster.clientUrl(leader)}/greeting`, { method: 'PUT', body: 'hello, wörld' })
    t.equal(put.status, 204)
    for (const id of [1, 2, 3]) {
      const get = await call(`${cluster.clientUrl(id)}/greeting`)
      t.equal(get.status, 200, `node ${id} answers`)
      t.equal(get.text, 'hello, wörld', `node ${id} has the value`)
    }
    const missing = await call(`${cluster.clientUrl(followers[0])}/no-such-key`)
    t.equal(missing.status, 404)
    t.equal(missing.json.code, 'KEY_NOT_FOUND')
  })

  await t.test('a follower serves writes (no redirect)', async (t) => {
    const put = await call(`${cluster.clientUrl(followers[0])}/from-follower`, { method: 'PUT', body: 'f', redirect: 'manual' })
    t.equal(put.status, 204)
    t.equal((await call(`${cluster.clientUrl(leader)}/from-follower`)).text, 'f')
  })

  await t.test('JSON API paths are not classic keys', async (t) => {
    const a = await call(`${cluster.clientUrl(leader)}/v1/x`, { method: 'PUT', body: 'nope' })
    t.equal(a.status, 404)
    const b = await call(`${cluster.clientUrl(leader)}/health`, { method: 'PUT', body: 'nope' })
    t.equal(b.status, 405)
  })

  await t.test('SIGKILL the leader: the others keep taking writes; it restarts and catches up', async (t) => {
    await cluster.kill(leader)
    const survivors = followers
    for (let i = 0; i < 5; i++) await putEventually(cluster.clientUrl(survivors[i % 2]), `after-kill-${i}`, `v${i}`)
    for (let i = 0; i < 5; i++) t.equal((await call(`${cluster.clientUrl(survivors[(i + 1) % 2])}/after-kill-${i}`)).text, `v${i}`, `after-kill-${i} is on the other survivor`)

    cluster.start(leader, 3)
    await cluster.healthy(leader)
    // A local (serializable) read on the restarted node shows what it has applied itself.
    const kv = await waitFor('the restarted node to catch up', async () => {
      const a = await call(`${cluster.clientUrl(leader)}/v1/kv/after-kill-4?serializable=true`)
      return a.status === 200 ? a.json.kv : undefined
    })
    t.equal(kv.value, 'v4')
    t.equal((await call(`${cluster.clientUrl(leader)}/greeting`)).text, 'hello, wörld', 'and kept what it had before')
  })

  await t.test('POST /4 adds a node that starts with --join and receives the data; DELETE /4 removes it', async (t) => {
    const add = await call(`${cluster.clientUrl(followers[0])}/4`, { method: 'POST', body: cluster.peerUrls[3] })
    t.equal(add.status, 204, add.text)
    // The node that answered has applied the change (others may still be applying it).
    const members = await jsonCall(`${cluster.clientUrl(followers[0])}/v1/members`, 'GET')
    t.same(members.json.members.find((m: { id: number }) => m.id === 4), { id: 4, role: 'voter', address: cluster.peerUrls[3] })

    cluster.start(4, 4, ['--join'])
    const kv = await waitFor('node 4 to receive the data', async () => {
      const a = await call(`${cluster.clientUrl(4)}/v1/kv/after-kill-4?serializable=true`)
      return a.status === 200 ? a.json.kv : undefined
    })
    t.equal(kv.value, 'v4')
    await putEventually(cluster.clientUrl(4), 'via-4', 'four')
    t.equal((await call(`${cluster.clientUrl(1)}/via-4`)).text, 'four', 'node 4 serves writes too')

    const del = await call(`${cluster.clientUrl(1)}/4`, { method: 'DELETE' })
    t.equal(del.status, 204, del.text)
    const after = await jsonCall(`${cluster.clientUrl(1)}/v1/members`, 'GET')
    t.same(after.json.members.map((m: { id: number }) => m.id), [1, 2, 3])
    await putEventually(cluster.clientUrl(3), 'after-remove', 'ok')
    t.equal((await call(`${cluster.clientUrl(1)}/after-remove`)).text, 'ok', 'the cluster of three goes on')
    const again = await call(`${cluster.clientUrl(1)}/4`, { method: 'DELETE' })
    t.equal(again.status, 404, 'removing a non-member is 404')
  })
})
