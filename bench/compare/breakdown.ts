/**
 * `breakdown`: where an operation's time goes. The embedded op (put, or the first `--ops`) at 1
 * in flight (or the first `--concurrency`) runs in the leader; each member's log writes (write
 * and fsync of a Ready's entries) and applies are read from its metrics before and after the
 * load, and their count and mean duration are printed beside the op's latency. The figures span
 * the warm-up and the measured window. With `--no-sync` the members write their logs without
 * fsync: the difference is what the fsync costs (such a cluster is not durable).
 *
 * @module
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { loadVia } from './ipc-proc.js'
import { NodeCluster } from './node-cluster.js'
import type { SuiteOptions } from './options.js'
import { emit, lineOf, type BenchLine } from './result.js'

const PHASES = { logWrite: 'metastore_log_fsync_duration_seconds', apply: 'metastore_apply_duration_seconds' } as const

/** `_sum` and `_count` of the unlabelled histograms in a Prometheus text. */
function totals(text: string): Map<string, { sum: number; count: number }> {
  const out = new Map<string, { sum: number; count: number }>()
  for (const line of text.split('\n')) {
    const m = /^(\w+)_(sum|count) ([\d.e+-]+)$/.exec(line)
    if (!m) continue
    const t = out.get(m[1]) ?? { sum: 0, count: 0 }
    if (m[2] === 'sum') t.sum = Number(m[3])
    else t.count = Number(m[3])
    out.set(m[1], t)
  }
  return out
}

export async function breakdown(options: SuiteOptions): Promise<BenchLine[]> {
  const dir = join(options.dataDir, 'breakdown')
  rmSync(dir, { recursive: true, force: true })
  const op = options.ops.length === 1 ? options.ops[0] : 'put'
  const concurrency = options.concurrency.length === 1 ? options.concurrency[0] : 1
  const cluster = await NodeCluster.start(dir, { noSync: options.noSync })
  try {
    const leader = await cluster.leader()
    await leader.call('prime')
    const before = await Promise.all(cluster.procs.map((p) => p.call<string>('metrics')))
    const spec = { op, concurrency, seconds: options.seconds, warmupSeconds: options.warmupSeconds }
    const { figures, cpu } = await loadVia(leader, spec, cluster.pids)
    const after = await Promise.all(cluster.procs.map((p) => p.call<string>('metrics')))
    const members = cluster.procs.map((p, i) => {
      const a = totals(after[i])
      const b = totals(before[i])
      const phase = (metric: string): { count: number; meanMs: number } => {
        const count = (a.get(metric)?.count ?? 0) - (b.get(metric)?.count ?? 0)
        const sum = (a.get(metric)?.sum ?? 0) - (b.get(metric)?.sum ?? 0)
        return { count, meanMs: count === 0 ? 0 : Math.round((sum / count) * 1e6) / 1e3 }
      }
      return { id: p.config.id, role: p === leader ? 'leader' : 'follower', logWrite: phase(PHASES.logWrite), apply: phase(PHASES.apply) }
    })
    const line = { ...lineOf({ system: 'metastore', scenario: 'breakdown', op, concurrency, target: 'leader' }, figures, cpu), extra: { members, fsync: !options.noSync } }
    emit(line)
    for (const m of members) {
      console.error(`${m.role} ${m.id}: log writes ${m.logWrite.count} × ${m.logWrite.meanMs} ms, applies ${m.apply.count} × ${m.apply.meanMs} ms`)
    }
    return [line]
  } finally {
    await cluster.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}
