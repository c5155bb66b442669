/**
 * The simulator's command line: `npm run sim -- --seeds N --nodes K [--all-faults] [--jobs J]`
 * runs seeds 1..N (or from --from), each in the safety and liveness phases, and ends with
 * `seeds: N, violations: V`. `--seed S --verbose` replays one seed with its event trace.
 */
import { availableParallelism } from 'node:os'
import { parseArgs } from 'node:util'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { EXIT_CODES } from './checkers/violation.js'
import { describeOptions } from './options.js'
import { formatFailure, runSeed, type RunOptions, type SeedResult } from './vopr.js'

interface WorkerInput {
  readonly seeds: number[]
  readonly run: RunOptions
}

if (!isMainThread) {
  const input = workerData as WorkerInput
  for (const seed of input.seeds) {
    const r = runSeed(seed, input.run)
    parentPort!.postMessage({ seed: r.seed, ok: r.ok, failure: r.failure, message: r.ok ? undefined : formatFailure(r, input.run) })
  }
} else {
  await main()
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string', default: '100' },
      from: { type: 'string', default: '1' },
      seed: { type: 'string' },
      nodes: { type: 'string', default: '5' },
      jobs: { type: 'string' },
      'all-faults': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  })
  if (values.help) {
    console.log('usage: npm run sim -- [--seeds N] [--from S] [--nodes K] [--all-faults] [--jobs J]\n       npm run sim -- --seed S [--nodes K] [--all-faults] [--verbose]')
    return
  }
  const nodes = Number(values.nodes)
  const run: RunOptions = { nodes, allFaults: values['all-faults'] }
  if (values.seed !== undefined) {
    const seed = Number(values.seed)
    const r = runSeed(seed, { ...run, log: values.verbose ? (l) => console.log(l) : undefined })
    console.log(`SEED=${seed} ${describeOptions(r.options)}`)
    if (r.ok) {
      console.log(`ok ${JSON.stringify(r.stats)}`)
      console.log('seeds: 1, violations: 0')
    } else {
      console.log(formatFailure(r, run))
      console.log('seeds: 1, violations: 1')
      process.exitCode = EXIT_CODES[r.failure!]
    }
    return
  }
  const count = Number(values.seeds)
  const from = Number(values.from)
  const jobs = Math.max(1, Math.min(Number(values.jobs ?? availableParallelism()), count))
  const started = Date.now()
  const failures: string[] = []
  let done = 0
  const buckets: number[][] = Array.from({ length: jobs }, () => [])
  for (let i = 0; i < count; i++) buckets[i % jobs].push(from + i)
  await Promise.all(
    buckets.map(
      (seeds) =>
        new Promise<void>((resolve, reject) => {
          const w = new Worker(new URL(import.meta.url), { workerData: { seeds, run } satisfies WorkerInput })
          w.on('message', (r: Pick<SeedResult, 'seed' | 'ok' | 'failure'> & { message?: string }) => {
            done++
            if (!r.ok) {
              failures.push(r.message!)
              console.log(r.message)
            }
            if (done % 500 === 0) console.log(`... ${done}/${count} seeds, ${failures.length} violations, ${((Date.now() - started) / 1000).toFixed(1)}s`)
          })
          w.on('error', reject)
          w.on('exit', () => resolve())
        }),
    ),
  )
  const secs = ((Date.now() - started) / 1000).toFixed(1)
  console.log(`time: ${secs}s on ${jobs} workers`)
  console.log(`seeds: ${count}, violations: ${failures.length}`)
  if (failures.length > 0) process.exitCode = 1
}
