/**
 * The benchmark suite, side by side with etcd. Each scenario prints one JSON line per measured
 * configuration; `--report` adds a markdown table. These are measurements, not tests: nothing
 * here asserts a timing.
 *
 *   node build/bench/suite.js suite [--seconds 2] [--report]       everything, etcd first
 *   node build/bench/suite.js kv                                   the KV matrix: etcd, embedded, http
 *   node build/bench/suite.js embedded|http|etcd [--etcd]          the KV matrix of one system
 *   node build/bench/suite.js inprocess|recovery|catchup|failover|memory|profile|breakdown
 *
 * Every child process (members, servers, etcd, load clients) is killed when the run ends, and the
 * whole run is bounded by `--timeout` minutes.
 *
 * @module
 */
import { execFileSync } from 'node:child_process'
import { cpus } from 'node:os'
import { pathToFileURL } from 'node:url'
import { catchup, etcdFailover, failover, memory, recovery } from './compare/large-scenarios.js'
import { inprocess } from './compare/inprocess.js'
import { embedded, etcd, http } from './compare/kv-scenarios.js'
import { etcdRecoveryAndMemory } from './compare/etcd-life.js'
import { parseSuiteOptions, USAGE, type SuiteOptions } from './compare/options.js'
import { killAll } from './compare/procs.js'
import { profile } from './compare/profile.js'
import { breakdown } from './compare/breakdown.js'
import { renderReport, writeReportSection } from './compare/report.js'
import { printed, type BenchLine } from './compare/result.js'
import { serverAvailable } from './compare/server-cluster.js'
import { etcdVersion, ensureEtcd } from './compare/etcd-cluster.js'

type Scenario = (options: SuiteOptions) => Promise<unknown>

let failures = 0

/** Runs one scenario; a failure is reported and the suite goes on. */
async function attempt(name: string, run: () => Promise<BenchLine[] | unknown>): Promise<BenchLine[]> {
  const started = performance.now()
  console.error(`# ${name}`)
  try {
    const lines = await run()
    console.error(`# ${name} done in ${Math.round((performance.now() - started) / 1000)} s`)
    return Array.isArray(lines) ? (lines as BenchLine[]) : []
  } catch (err) {
    failures++
    console.error(`# ${name} FAILED: ${(err as Error)?.stack ?? String(err)}`)
    killAll()
    return []
  }
}

/** etcd's figures first (when asked), for the ratios. */
async function etcdFirst(options: SuiteOptions): Promise<BenchLine[]> {
  return options.withEtcd ? attempt('etcd', () => etcd(options)) : []
}

const scenarios: Record<string, Scenario> = {
  async suite(options) {
    const etcdLines = await attempt('etcd', () => etcd(options))
    await attempt('embedded', () => embedded(options, etcdLines))
    if (serverAvailable()) await attempt('http', () => http(options, etcdLines))
    else {
      failures++
      console.error('# http SKIPPED: the metastore server is not built (examples/server/server.js)')
    }
    await attempt('inprocess', () => inprocess(options))
    await attempt('failover', () => failover(options))
    await attempt('etcd failover', () => etcdFailover(options))
    await attempt('recovery', () => recovery(options))
    await attempt('memory', () => memory(options))
    await attempt('etcd recovery and memory', () => etcdRecoveryAndMemory(options))
    await attempt('catchup', () => catchup(options))
  },
  async kv(options) {
    const etcdLines = await attempt('etcd', () => etcd(options))
    await attempt('embedded', () => embedded(options, etcdLines))
    await attempt('http', () => http(options, etcdLines))
  },
  async embedded(options) {
    const etcdLines = await etcdFirst(options)
    await attempt('embedded', () => embedded(options, etcdLines))
  },
  async http(options) {
    const etcdLines = await etcdFirst(options)
    await attempt('http', () => http(options, etcdLines))
  },
  etcd: (options) => attempt('etcd', () => etcd(options)),
  inprocess: (options) => attempt('inprocess', () => inprocess(options)),
  async recovery(options) {
    await attempt('recovery', () => recovery(options))
    if (options.withEtcd) await attempt('etcd recovery and memory', () => etcdRecoveryAndMemory(options))
  },
  catchup: (options) => attempt('catchup', () => catchup(options)),
  async failover(options) {
    await attempt('failover', () => failover(options))
    if (options.withEtcd) await attempt('etcd failover', () => etcdFailover(options))
  },
  async memory(options) {
    await attempt('memory', () => memory(options))
    if (options.withEtcd) await attempt('etcd recovery and memory', () => etcdRecoveryAndMemory(options))
  },
  profile: (options) => attempt('profile', () => profile(options)),
  breakdown: (options) => attempt('breakdown', () => breakdown(options)),
}

function environment(argv: readonly string[], options: SuiteOptions): string {
  const cpu = cpus()
  let etcdLine = 'not used'
  if (argv[0] === 'suite' || argv[0] === 'etcd' || options.withEtcd) etcdLine = etcdVersion(ensureEtcd())
  let commit = 'unknown'
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    // not a checkout
  }
  return [
    `Run: \`node build/bench/suite.js ${argv.join(' ')}\` on ${new Date().toISOString().slice(0, 10)}, commit ${commit}.`,
    `Machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, Node ${process.version}, etcd ${etcdLine}.`,
    `Workload: ${options.seconds} s measured after ${options.warmupSeconds} s of warm-up per configuration; 16-byte keys drawn from 10,000; 256-byte values.`,
  ].join('\n')
}

/** The scenario names `main` accepts as its first argument. */
export const SCENARIOS: readonly string[] = Object.keys(scenarios)

/** Runs the scenario named by `argv[0]` with the flags after it (`['embedded', '--seconds', '2']`). */
export async function main(argv: readonly string[]): Promise<void> {
  const [name, ...args] = argv
  const scenario = name === undefined ? undefined : scenarios[name]
  if (scenario === undefined) {
    if (name === '--help' || name === '-h') console.log(USAGE)
    else console.error(name === undefined ? USAGE : `unknown scenario ${JSON.stringify(name)}\n\n${USAGE}`)
    process.exitCode = name === '--help' || name === '-h' ? 0 : 2
    return
  }
  const options = parseSuiteOptions(args, { targets: ['leader', 'follower'] })
  const effective = name === 'suite' || name === 'kv' ? { ...options, withEtcd: true } : options
  const timer = setTimeout(() => {
    console.error(`# the run took longer than --timeout ${options.timeoutMinutes} min: stopping`)
    killAll()
    process.exit(3)
  }, options.timeoutMinutes * 60_000)
  timer.unref()
  const header = environment(argv, effective)
  console.error(header)
  try {
    await scenario(effective)
  } finally {
    killAll()
  }
  if (options.report || options.reportFile) {
    const markdown = renderReport(printed, header)
    if (options.report) console.log(`\n${markdown}`)
    if (options.reportFile) writeReportSection(options.reportFile, markdown)
  }
  if (failures > 0) process.exitCode = 1
  // Nothing the suite started may keep it alive (a client's socket, a member's pipe).
  setTimeout(() => process.exit(), 1000).unref()
}

// Run directly (`node build/bench/suite.js ...`), not when imported by a dispatcher.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main(process.argv.slice(2))
