// Real processes, real crashes: nodes run as child processes (TCP on loopback, LevelDB on disk)
// and the leader is killed with SIGKILL in the middle of a write load. Writes must resume under a
// new leader, the killed node must come back on the same directory and port and catch up, and at
// the end every acknowledged write must be on every node.
import t, { type Test } from 'tap'
import { Cluster, waitFor, Writers } from './harness.js'

/** Kills the current leader under load, waits for writes to resume, restarts it and lets it catch up. */
async function killLeaderAndRestart(t: Test, cluster: Cluster, writers: Writers, alive: Set<number>): Promise<void> {
  const { leader, term } = await cluster.waitForLeader()
  const pid = cluster.pids()[leader]
  alive.delete(leader)
  await cluster.kill(leader)
  t.comment(`killed leader ${leader} (pid ${pid}, term ${term}) with SIGKILL after ${writers.acknowledged.size} acknowledged writes`)

  const next = await cluster.waitForLeader([...alive], { minTerm: term + 1 })
  t.not(next.leader, leader, `a new leader (${next.leader}, term ${next.term}) was elected without node ${leader}`)
  await writers.more(100)
  t.pass(`writes resumed without node ${leader}`)

  await cluster.startNode(leader)
  alive.add(leader)
  t.comment(`restarted node ${leader} on its directory and port`)
  await writers.more(50)
  const { leader: now } = await cluster.waitForLeader()
  const commit = (await cluster.node(now).status()).commitIndex
  const caughtUp = async (): Promise<boolean> => (await cluster.node(leader).status()).appliedIndex >= commit
  await waitFor(`the restarted node ${leader} to apply up to ${commit}`, caughtUp, 60_000)
  t.pass(`node ${leader} caught up to index ${commit}`)
}

const scenarios = [
  { size: 3, kills: 1 },
  { size: 5, kills: 2 },
]

for (const { size, kills } of scenarios) {
  t.test(`${size} processes: SIGKILL the leader ${kills === 1 ? 'once' : `${kills} times`} under write load`, { timeout: 150_000 }, async (t) => {
    const ids = Array.from({ length: size }, (_, i) => i + 1)
    const cluster = await Cluster.start(t, { ids, label: `kill${size}` })
    const alive = new Set(ids)
    const writers = new Writers(cluster, () => [...alive], 2 * size)
    t.teardown(() => writers.stop())
    await cluster.waitForLeader()
    await writers.more(100)
    for (let k = 0; k < kills; k++) await killLeaderAndRestart(t, cluster, writers, alive)
    await writers.stop()
    t.comment(writers.summary())
    t.ok(writers.acknowledged.size >= 100 + kills * 150, 'writes were acknowledged throughout')
    await cluster.verify(t, writers.acknowledged)
  })
}
