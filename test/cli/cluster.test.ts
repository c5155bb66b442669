// metastore-cli against a real three-node cluster (memory storage): members and status of every
// endpoint, membership changes, leadership transfer, and failover when a node dies.
import t from 'tap'
import { ProcCluster, waitFor } from '../server/helpers.js'
import { LiveCli, parseJson, runCli, runInProcess } from './helpers.js'

const cluster = await ProcCluster.create(4, ['--storage', 'memory'])
t.teardown(() => cluster.destroy())
for (const id of [1, 2, 3]) cluster.start(id, 3)
const firstLeader = await cluster.leader([1, 2, 3])
const all = ['--endpoints', [1, 2, 3].map((id) => cluster.clientUrl(id)).join(',')]

interface StatusRow {
  endpoint: string
  status?: { id: number; role: string; leader: number; appliedIndex: number }
  error?: string
}

t.test('members and status show the whole cluster', async (t) => {
  const members = parseJson(await runInProcess([...all, '--json', 'members', 'list']))
  t.strictSame(
    members.members.map((m: { id: number; role: string; address: string }) => [m.id, m.role, m.address]).sort(),
    [1, 2, 3].map((id) => [id, 'voter', cluster.peerUrls[id - 1]]),
  )
  const table = await runCli([...all, 'status'])
  t.equal(table.code, 0, table.stderr)
  t.equal(table.stdout.match(/\| leader /g)?.length, 1, 'one leader')
  t.equal(table.stdout.match(/\| follower /g)?.length, 2, 'two followers')
  const rows = parseJson(await runInProcess([...all, '--json', 'status'])) as StatusRow[]
  t.strictSame(rows.map((r) => r.status?.id), [1, 2, 3], 'one row per endpoint, in order')
  t.ok(rows.every((r) => r.status?.leader === firstLeader), 'every member knows the leader')
})

t.test('writes through a follower, serializable reads from each member', async (t) => {
  const follower = [1, 2, 3].find((id) => id !== firstLeader)!
  const put = await runInProcess(['--endpoints', cluster.clientUrl(follower), 'put', 'cluster/k', 'v1'])
  t.equal(put.code, 0, put.stderr)
  for (const id of [1, 2, 3]) {
    const value = await waitFor(`node ${id} applies the write`, async () => {
      const r = await runInProcess(['--endpoints', cluster.clientUrl(id), 'get', 'cluster/k', '--serializable'])
      return r.code === 0 ? r.stdout : undefined
    })
    t.equal(value, 'v1\n', `node ${id}`)
  }
})

t.test('members add (learner), promote and remove', async (t) => {
  const added = await runInProcess([...all, 'members', 'add', '4', cluster.peerUrls[3], '--learner'])
  t.equal(added.code, 0, added.stderr)
  t.match(added.stdout, /member 4 added as a learner/)
  t.match(added.stdout, new RegExp(`\\|\\s+4 \\| learner \\| ${cluster.peerUrls[3]}`))
  cluster.start(4, 4, ['--join'])
  await cluster.healthy(4)
  const promoted = await waitFor('the learner caught up and promoted', async () => {
    const r = await runInProcess([...all, 'members', 'promote', '4'])
    return r.code === 0 ? r : undefined
  })
  t.match(promoted.stdout, /\|\s+4 \| voter/)
  const removed = await runInProcess([...all, 'members', 'remove', '4'])
  t.equal(removed.code, 0, removed.stderr)
  t.notMatch(removed.stdout, /\|\s+4 \|/)
  await cluster.kill(4)
  const again = await runInProcess([...all, 'members', 'remove', '4'])
  t.equal(again.code, 1, 'removing a non-member fails')
})

t.test('move-leader hands the leadership over', async (t) => {
  const current = await cluster.leader([1, 2, 3])
  const target = [1, 2, 3].find((id) => id !== current)!
  const moved = await runInProcess([...all, 'move-leader', String(target)])
  t.equal(moved.code, 0, moved.stderr)
  t.equal(moved.stdout, `leader is now member ${target}\n`)
  t.equal(await cluster.leader([1, 2, 3]), target)
})

t.test('a dead first endpoint: commands and watches go to the next; status reports it', async (t) => {
  const start = parseJson(await runInProcess([...all, '--json', 'put', 'resume/0', 'before']))
  // The watch streams from node 1, the first endpoint, until node 1 dies.
  const watch = new LiveCli([...all, 'watch', 'resume/', '--prefix', '--rev', String(start.revision + 1)])
  t.teardown(() => watch.stop())
  t.equal((await runInProcess([...all, 'put', 'resume/1', 'one'])).code, 0)
  await watch.waitForOutput(/PUT\nresume\/1\none\n/)
  await cluster.kill(1)
  // If node 1 led, the others elect a new leader first; the client moves on meanwhile.
  const put = await waitFor('a write through the remaining endpoints', async () => {
    const r = await runInProcess([...all, 'put', 'after/failover', 'yes'])
    return r.code === 0 ? r : undefined
  })
  t.equal(put.stdout, 'OK\n')
  t.equal((await runInProcess([...all, 'put', 'resume/2', 'two'])).code, 0)
  const events = await watch.waitForOutput(/PUT\nresume\/2\ntwo\n/)
  t.equal(events, 'PUT\nresume/1\none\nPUT\nresume/2\ntwo\n', 'resumed at the next endpoint: nothing lost, nothing twice')
  t.match(watch.stderr, /resuming|retrying/, 'the reconnection is noted on stderr')
  const got = await runCli([...all, 'get', 'after/failover'])
  t.equal(got.stdout, 'yes\n', got.stderr)
  const status = await runInProcess([...all, 'status'])
  t.equal(status.code, 1)
  t.match(status.stdout, new RegExp(`${cluster.clientUrl(1)} .*ECONNREFUSED`))
  t.match(status.stderr, /1 of 3 endpoints did not answer/)
})
