// Partitions of real processes: each node runs in a network namespace of its own (see netns.ts) and
// links are cut with iptables inside the namespaces. The leader is put on the minority side: it must
// not commit anything there (nor answer a linearizable read), the majority must elect a leader and
// commit, and after healing every node must converge on every acknowledged write.
//
// Needs root, iproute2 and network namespaces; skipped (with the reason) where they are missing.
import t, { type Test } from 'tap'
import { Cluster, waitFor, Writers } from './harness.js'
import { NetnsLab } from './netns.js'

const PORT = 7379

/** The leader and `minority - 1` followers lose the rest of the cluster, then the partition heals. */
async function leaderInMinority(t: Test, size: number, minority: number): Promise<void> {
  const ids = Array.from({ length: size }, (_, i) => i + 1)
  // Known before it is fully built, so that teardown removes whatever part of it exists.
  let lab: NetnsLab | undefined
  t.teardown(() => lab?.destroy())
  const net = await NetnsLab.create(ids, (l) => (lab = l))
  t.comment(`partitions by ${net.usesIptables ? 'iptables DROP rules' : 'blackhole routes'}`)
  const cluster = await Cluster.start(t, {
    ids,
    label: `netns${size}`,
    hosts: new Map(ids.map((id) => [id, { host: net.ip(id), port: PORT }])),
    prefix: (id) => net.prefix(id),
  })
  let targets: readonly number[] = ids
  const writers = new Writers(cluster, () => targets, 2 * size)
  t.teardown(() => writers.stop())

  const { leader, term } = await cluster.waitForLeader()
  await writers.more(50)
  const cut = [leader, ...ids.filter((id) => id !== leader).slice(0, minority - 1)]
  const majority = ids.filter((id) => !cut.includes(id))
  await net.partition([cut, majority])
  targets = majority
  t.comment(`partitioned leader ${leader} (term ${term}) with [${cut.join(', ')}] away from [${majority.join(', ')}]`)

  // Writes sent to the cut-off leader: none may succeed while it is cut off.
  let healed = false
  const minorityWrites = Array.from({ length: 10 }, (_, i) => {
    const key = `w/minority/${i}`
    const value = `minority-${i}`
    return cluster.node(leader).put(key, value).then(
      () => ({ key, value, ok: true as const, beforeHeal: !healed }),
      (err: { code?: string }) => ({ key, value, ok: false as const, code: err.code ?? 'ERROR' }),
    )
  })

  const next = await cluster.waitForLeader(majority, { minTerm: term + 1 })
  t.ok(majority.includes(next.leader), `the majority elected leader ${next.leader} in term ${next.term}`)
  await writers.more(100)
  t.pass('the majority commits')

  // The old leader's side learns nothing new: its commit index stays where it was.
  const before = await cluster.statuses(cut)
  const fresh = [...writers.acknowledged.keys()].at(-1)!
  const read = await cluster.node(leader).get(fresh).then(
    (r) => `answered ${JSON.stringify(r)}`,
    (err: { code?: string }) => err.code ?? 'ERROR',
  )
  t.ok(!read.startsWith('answered'), `a linearizable read on the cut-off leader fails (${read})`)
  const steppedDown = await waitFor(`node ${leader} to step down`, async () => {
    const s = await cluster.node(leader).status()
    return s.role !== 'leader' ? s.role : undefined
  })
  t.pass(`the cut-off leader stepped down (now ${steppedDown})`)
  await writers.more(50)
  const after = await cluster.statuses(cut)
  t.equal(before.length, cut.length, 'the cut-off nodes answer their control channel')
  for (const b of before) {
    const a = after.find((s) => s.id === b.id)
    t.equal(a?.commitIndex, b.commitIndex, `node ${b.id} committed nothing while cut off (commit index ${b.commitIndex})`)
  }

  await net.heal()
  healed = true
  targets = ids
  t.comment('healed the partition')
  for (const id of cut) {
    const s = await waitFor(
      `node ${id} to follow a leader of a newer term`,
      async () => {
        const s = await cluster.node(id).status()
        return s.role === 'follower' && s.leader !== 0 && s.term > term ? s : undefined
      },
      60_000,
    )
    t.pass(`node ${id} follows ${s.leader} in term ${s.term}`)
  }
  const outcomes = await Promise.all(minorityWrites)
  const early = outcomes.filter((o) => o.ok && o.beforeHeal)
  t.same(early.map((o) => o.key), [], 'no write to the cut-off leader was acknowledged before the heal')
  const late = outcomes.filter((o) => o.ok)
  t.comment(`writes sent to the cut-off leader: ${late.length} acknowledged after the heal, ${outcomes.length - late.length} failed`)
  for (const o of late) writers.acknowledged.set(o.key, o.value)

  await writers.more(50, 60_000)
  await writers.stop()
  t.comment(writers.summary())
  await cluster.verify(t, writers.acknowledged)
}

const unavailable = await NetnsLab.probe()
if (unavailable) {
  t.skip(`partition tests in network namespaces: ${unavailable}`, () => {})
} else {
  t.test('3 processes in network namespaces: the leader alone on the minority side', { timeout: 120_000 }, (t) => leaderInMinority(t, 3, 1))
  t.test('5 processes in network namespaces: the leader and one follower on the minority side', { timeout: 120_000 }, (t) => leaderInMinority(t, 5, 2))
}
