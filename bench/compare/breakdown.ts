/**
 * Where a put's time goes: runs the embedded put at a given number in flight in the leader and
 * prints the members' fsync and apply histograms (mean per batch) next to the put's latency.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { NodeCluster } from './node-cluster.js'

function means(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  const sums = new Map<string, number>()
  const counts = new Map<string, number>()
  for (const line of text.split('\n')) {
    const m = /^(\w+)_(sum|count)(\{[^}]*\})? ([\d.e+-]+)$/.exec(line)
    if (!m) continue
    const key = m[1] + (m[3] ?? '')
    if (m[2] === 'sum') sums.set(key, Number(m[4]))
    else counts.set(key, Number(m[4]))
  }
  for (const [k, c] of counts) if (c > 0 && /seconds/.test(k)) out[k] = `${c} × ${((sums.get(k)! / c) * 1000).toFixed(3)} ms`
  return out
}

const concurrency = Number(process.argv[2] ?? 1)
const op = process.argv[3] ?? 'put'
const dir = join(tmpdir(), 'metastore-breakdown')
rmSync(dir, { recursive: true, force: true })
const cluster = await NodeCluster.start(dir)
try {
  const leader = await cluster.leader()
  await leader.call('prime')
  const before = await Promise.all(cluster.procs.map((p) => p.call<string>('metrics')))
  const figures = await leader.call('load', { op, concurrency, warmupSeconds: 1, seconds: 5 })
  console.log(JSON.stringify(figures))
  const after = await Promise.all(cluster.procs.map((p) => p.call<string>('metrics')))
  cluster.procs.forEach((p, i) => {
    const b = means(before[i])
    const a = means(after[i])
    console.log(p === leader ? 'leader' : 'follower', p.config.id, JSON.stringify(a, null, 1), JSON.stringify(b))
  })
} finally {
  await cluster.stop()
  rmSync(dir, { recursive: true, force: true })
}
