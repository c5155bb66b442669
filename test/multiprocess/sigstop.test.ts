// A leader that stops without dying: SIGSTOP freezes it (as a long GC pause or a stalled VM would)
// for longer than an election timeout. The others must elect a new leader and go on; when the old
// one resumes (SIGCONT) it must step down and catch up, and no write it was sent while frozen may
// be acknowledged unless it really is committed: every acknowledged write, those included, must be
// on every node at the end.
import t from 'tap'
import { Cluster, waitFor, Writers } from './harness.js'

t.test('3 processes: SIGSTOP the leader past an election timeout, then SIGCONT', { timeout: 120_000 }, async (t) => {
  const ids = [1, 2, 3]
  const cluster = await Cluster.start(t, { ids, label: 'stop3' })
  let paused = 0
  const writers = new Writers(cluster, () => ids.filter((id) => id !== paused), 6)
  t.teardown(async () => {
    // A frozen node cannot answer: let it run so that the writers finish (teardown kills it anyway).
    if (paused) cluster.node(paused).signal('SIGCONT')
    await writers.stop()
  })
  const { leader, term } = await cluster.waitForLeader()
  await writers.more(100)

  const staleWrite = (i: number) => {
    const key = `w/stale/${i}`
    const value = `stale-${i}`
    return cluster.node(leader).put(key, value).then(
      () => ({ key, value, ok: true as const }),
      (err: { code?: string; message?: string }) => ({ key, value, ok: false as const, code: err.code ?? 'ERROR', message: err.message ?? '' }),
    )
  }
  // Five writes reach the leader just as it freezes (some may be in its log, uncommitted)...
  const stale = Array.from({ length: 5 }, (_, i) => staleWrite(i))
  paused = leader
  cluster.node(leader).signal('SIGSTOP')
  t.comment(`froze leader ${leader} (term ${term}) after ${writers.acknowledged.size} acknowledged writes`)
  // ...and twenty wait in its input until it resumes, then race the news of the new term.
  // Whatever it answers, a success must be a committed write.
  for (let i = 5; i < 25; i++) stale.push(staleWrite(i))

  const others = ids.filter((id) => id !== leader)
  const next = await cluster.waitForLeader(others, { minTerm: term + 1 })
  t.not(next.leader, leader, `nodes ${others.join(' and ')} elected leader ${next.leader} in term ${next.term} while ${leader} was frozen`)
  await writers.more(100)
  t.pass('writes went on through the new leader')

  cluster.node(leader).signal('SIGCONT')
  paused = 0
  t.comment(`resumed node ${leader}`)
  const outcomes = await Promise.all(stale)
  const acknowledgedStale = outcomes.filter((o) => o.ok)
  const codes = outcomes.flatMap((o) => (o.ok ? [] : [o.code]))
  t.comment(`writes sent to the frozen leader: ${acknowledgedStale.length} acknowledged, ${codes.length} failed (${[...new Set(codes)].join(', ') || 'none'})`)
  for (const o of outcomes) if (!o.ok) t.comment(`  ${o.key}: ${o.message}`)
  t.equal(outcomes.length, 25, 'every write sent to the frozen leader was answered')
  for (const o of acknowledgedStale) writers.acknowledged.set(o.key, o.value)

  const resumed = await waitFor(
    `node ${leader} to step down and follow a newer leader`,
    async () => {
      const s = await cluster.node(leader).status()
      return s.role === 'follower' && s.leader !== 0 && s.leader !== leader && s.term > term ? s : undefined
    },
    30_000,
  )
  t.pass(`node ${leader} stepped down: follower of ${resumed.leader} in term ${resumed.term}`)
  const { leader: current } = await cluster.waitForLeader()
  const commit = (await cluster.node(current).status()).commitIndex
  await waitFor(`node ${leader} to apply up to ${commit}`, async () => (await cluster.node(leader).status()).appliedIndex >= commit, 60_000)
  t.pass(`node ${leader} caught up to index ${commit}`)

  await writers.more(50)
  await writers.stop()
  t.comment(writers.summary())
  await cluster.verify(t, writers.acknowledged)
  // A failure may hide a write that was applied (its outcome was unknown): say how often.
  const present = await cluster.node(current).scan('w/stale/', { serializable: true })
  const failedYetApplied = outcomes.flatMap((o) => (!o.ok && present[o.key] !== undefined ? [`${o.key} (${o.code})`] : []))
  t.comment(`writes to the frozen leader that failed yet were applied: ${failedYetApplied.length ? failedYetApplied.join(', ') : 'none'}`)
})
