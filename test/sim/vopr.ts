import { EXIT_CODES, Violation, type FailureClass } from './checkers/violation.js'
import { Cluster, type SimStats } from './cluster.js'
import { allFaults, deriveOptions, describeOptions, type SimOptions } from './options.js'

export interface SeedResult {
  readonly seed: number
  readonly ok: boolean
  readonly failure?: FailureClass
  readonly message?: string
  readonly stats?: SimStats
  readonly options: SimOptions
}

export interface RunOptions {
  readonly nodes: number
  /** Switch every fault kind on for every seed (rates still drawn from the seed). */
  readonly allFaults?: boolean
  readonly overrides?: Partial<SimOptions>
  /** Receives the event trace (slow; for replaying one seed). */
  readonly log?: (line: string) => void
}

/** Simulates one seed: safety phase, then liveness phase. Never throws. */
export function runSeed(seed: number, opts: RunOptions): SeedResult {
  let options = deriveOptions(seed, opts.nodes, opts.overrides)
  if (opts.allFaults) options = allFaults(options)
  try {
    const cluster = new Cluster(options, opts.log)
    const stats = cluster.run()
    return { seed, ok: true, stats, options }
  } catch (err) {
    if (err instanceof Violation) return { seed, ok: false, failure: err.failure, message: err.message, options }
    const message = err instanceof Error ? (err.stack ?? err.message) : String(err)
    return { seed, ok: false, failure: 'crash', message, options }
  }
}

export function replayCommand(seed: number, opts: RunOptions): string {
  return `npm run sim -- --seed ${seed} --nodes ${opts.nodes}${opts.allFaults ? ' --all-faults' : ''} --verbose`
}

export function formatFailure(r: SeedResult, opts: RunOptions): string {
  return [
    `SEED=${r.seed} ${describeOptions(r.options)}`,
    `FAILED (${r.failure}, exit code ${EXIT_CODES[r.failure!]}): ${r.message}`,
    `reproduce with: ${replayCommand(r.seed, opts)}`,
  ].join('\n')
}
