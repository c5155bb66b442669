/**
 * `profile`: the embedded put at concurrency 128 (or the one `--ops` and `--concurrency` given), the load running in the leader, whose CPU is
 * profiled during the measured window only (the inspector's sampling profiler, which is what
 * `node --cpu-prof` uses); prints the top frames and files by self time. The `.cpuprofile` stays
 * where it is printed, for a closer look in Chrome DevTools.
 *
 * @module
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { loadVia } from './ipc-proc.js'
import { NodeCluster } from './node-cluster.js'
import type { SuiteOptions } from './options.js'
import { emit, lineOf, type BenchLine } from './result.js'

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[]
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
}

/** Frames (or, `byFile`, source files) of a `.cpuprofile` by self time, largest first. */
export function topFrames(file: string, count: number, byFile = false): Array<{ frame: string; selfMs: number; percent: number }> {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map<string, number>()
  let total = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i])
    const dt = profile.timeDeltas[i] ?? 0
    total += dt
    if (!node) continue
    const { functionName, url, lineNumber } = node.callFrame
    const path = url.replace(/^file:\/\//, '').replace(`${process.cwd()}/`, '')
    const key = byFile ? path || (functionName.startsWith('(') ? functionName : '(native code)') : `${functionName || '(anonymous)'}${path === '' ? '' : ` ${path}:${lineNumber + 1}`}`
    self.set(key, (self.get(key) ?? 0) + dt)
  }
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([frame, us]) => ({ frame, selfMs: Math.round(us / 1000), percent: Math.round((us / total) * 1000) / 10 }))
}

export async function profile(options: SuiteOptions): Promise<BenchLine[]> {
  const dir = join(options.dataDir, 'profile')
  const profDir = join(options.dataDir, 'cpu-profiles')
  rmSync(dir, { recursive: true, force: true })
  rmSync(profDir, { recursive: true, force: true })
  mkdirSync(profDir, { recursive: true })
  // The first op and concurrency given (`--ops`, `--concurrency`), else put at 128.
  const op = options.ops.length === 1 ? options.ops[0] : 'put'
  const concurrency = options.concurrency.length === 1 ? options.concurrency[0] : 128
  const file = join(profDir, `embedded-${op}-${concurrency}-leader.cpuprofile`)
  const followerFile = join(profDir, `embedded-${op}-${concurrency}-follower.cpuprofile`)
  const cluster = await NodeCluster.start(dir)
  let line: BenchLine
  try {
    const leader = await cluster.leader()
    await leader.call('prime')
    const spec = { op, concurrency, seconds: options.seconds, warmupSeconds: options.warmupSeconds, profileFile: file }
    // One follower is profiled over the same window, from outside (it runs no load).
    const follower = cluster.procs.find((p) => p !== leader)
    const calls: Array<Promise<unknown>> = []
    const { figures, cpu } = await loadVia(leader, spec, cluster.pids, (phase) => {
      if (follower !== undefined) calls.push(follower.call(phase === 'start' ? 'profileStart' : 'profileStop', { file: followerFile }))
    })
    await Promise.all(calls)
    line = lineOf({ system: 'metastore', scenario: 'profile', op, concurrency, target: 'leader' }, figures, cpu)
    emit(line)
  } finally {
    await cluster.stop()
    rmSync(dir, { recursive: true, force: true })
  }
  console.error(`leader profile of the measured window: ${file}`)
  console.error('top frames by self time:')
  for (const f of topFrames(file, 30)) console.error(`${String(f.percent).padStart(5)}%  ${String(f.selfMs).padStart(6)} ms  ${f.frame}`)
  console.error('top files by self time:')
  for (const f of topFrames(file, 15, true)) console.error(`${String(f.percent).padStart(5)}%  ${String(f.selfMs).padStart(6)} ms  ${f.frame}`)
  console.error(`follower profile of the same window: ${followerFile}`)
  for (const f of topFrames(followerFile, 20)) console.error(`${String(f.percent).padStart(5)}%  ${String(f.selfMs).padStart(6)} ms  ${f.frame}`)
  return [line]
}
