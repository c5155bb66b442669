import t from 'tap'
import { formatFailure, runSeed, type RunOptions } from './vopr.js'

// A fast slice of the simulator for every test run; `npm run sim -- --seeds 10000 --nodes 5
// --all-faults` is the long run. Seeds are fixed, so a failure here replays exactly.
function slice(name: string, run: RunOptions, from: number, count: number): void {
  t.test(name, async (t) => {
    const failures: string[] = []
    for (let seed = from; seed < from + count; seed++) {
      const r = runSeed(seed, run)
      if (!r.ok) failures.push(formatFailure(r, run))
    }
    t.same(failures, [], `${count} seeds without violations`)
  })
}

slice('3 nodes, every fault kind', { nodes: 3, allFaults: true }, 1, 120)
slice('5 nodes, faults drawn per seed', { nodes: 5 }, 1, 60)
slice('5 nodes, every fault kind', { nodes: 5, allFaults: true }, 1001, 60)
slice('1 node', { nodes: 1 }, 1, 20)

t.test('a seed replays exactly', async (t) => {
  for (const seed of [7, 42]) {
    const a = runSeed(seed, { nodes: 5, allFaults: true })
    const b = runSeed(seed, { nodes: 5, allFaults: true })
    t.ok(a.ok && b.ok, `seed ${seed} passes`)
    t.equal(a.stats?.traceHash, b.stats?.traceHash, `seed ${seed}: identical event trace`)
    t.same(a.stats, b.stats, `seed ${seed}: identical outcome`)
  }
  const other = runSeed(8, { nodes: 5, allFaults: true })
  t.not(other.stats?.traceHash, runSeed(7, { nodes: 5, allFaults: true }).stats?.traceHash, 'another seed takes another path')
})

t.test('the simulator exercises what it claims to', async (t) => {
  // Guard against a simulator that silently stops injecting faults or making progress.
  let crashes = 0
  let partitions = 0
  let confChanges = 0
  let transfers = 0
  let snapshots = 0
  let reads = 0
  let applied = 0
  for (let seed = 1; seed <= 20; seed++) {
    const r = runSeed(seed, { nodes: 5, allFaults: true })
    t.ok(r.ok, `seed ${seed} passes`)
    if (!r.stats) continue
    crashes += r.stats.crashes
    partitions += r.stats.partitions
    confChanges += r.stats.confChanges
    transfers += r.stats.transfers
    snapshots += r.stats.snapshotsSent
    reads += r.stats.readsConfirmed
    applied += r.stats.applied
  }
  t.ok(crashes > 0, `crashes happened (${crashes})`)
  t.ok(partitions > 0, `partitions happened (${partitions})`)
  t.ok(confChanges > 0, `membership changes happened (${confChanges})`)
  t.ok(transfers > 0, `leadership transfers happened (${transfers})`)
  t.ok(snapshots > 0, `snapshots were sent (${snapshots})`)
  t.ok(reads > 0, `linearizable reads were confirmed (${reads})`)
  t.ok(applied > 20 * 50, `entries were applied (${applied})`)
})
