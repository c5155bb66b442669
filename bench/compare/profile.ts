/**
 * `profile`: the embedded put at concurrency 128 (load in the leader) with every member under
 * `node --cpu-prof`; prints the leader's top frames by self time. The profiles stay in the
 * directory printed, for a closer look in Chrome DevTools.
 *
 * @module
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join, relative } from 'node:path'
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

/** Frames of a `.cpuprofile` by self time, largest first. */
export function topFrames(file: string, count: number): Array<{ frame: string; selfMs: number; percent: number }> {
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
    const where = url === '' ? '' : ` ${url.replace(/^file:\/\//, '').replace(`${process.cwd()}/`, '')}:${lineNumber + 1}`
    const key = `${functionName || '(anonymous)'}${where}`
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
  const cluster = await NodeCluster.start(dir, { execArgv: ['--cpu-prof', '--cpu-prof-dir', profDir] })
  let leaderPid = 0
  let line: BenchLine
  try {
    const leader = await cluster.leader()
    leaderPid = leader.pid
    await leader.call('prime')
    const { figures, cpu } = await loadVia(leader, { op: 'put', concurrency: 128, seconds: options.seconds, warmupSeconds: options.warmupSeconds }, cluster.pids)
    line = lineOf({ system: 'metastore', scenario: 'profile', op: 'put', concurrency: 128, target: 'leader' }, figures, cpu)
    emit(line)
  } finally {
    // A clean exit writes the profiles.
    await cluster.stop()
    rmSync(dir, { recursive: true, force: true })
  }
  const file = readdirSync(profDir).find((f) => f.includes(`.${leaderPid}.`))
  if (!file) throw new Error(`no profile of the leader (pid ${leaderPid}) in ${profDir}`)
  console.error(`leader profile: ${relative(process.cwd(), join(profDir, file)) || join(profDir, file)} (the whole process life: start, prime and the measured load)`)
  for (const f of topFrames(join(profDir, file), 30)) console.error(`${String(f.percent).padStart(5)}%  ${String(f.selfMs).padStart(6)} ms  ${f.frame}`)
  return [line]
}
