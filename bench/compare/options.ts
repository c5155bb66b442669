/**
 * The flags every scenario understands.
 *
 * @module
 */
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { OPS, type OpName } from './workload.js'

export interface SuiteOptions {
  /** Measured seconds per configuration. */
  readonly seconds: number
  /** Warm-up seconds before each measured window. */
  readonly warmupSeconds: number
  readonly concurrency: readonly number[]
  readonly ops: readonly OpName[]
  /** Keys held by the recovery, catchup and memory scenarios. */
  readonly keys: number
  /** Failover trials. */
  readonly trials: number
  /** `breakdown` only: the members write their logs without fsync, to show what the fsync costs. */
  readonly noSync: boolean
  /** Print a markdown table at the end. */
  readonly report: boolean
  /** Also write the table into this markdown file, between the bench markers. */
  readonly reportFile?: string
  /** The whole run is stopped (children killed) after this many minutes. */
  readonly timeoutMinutes: number
  /** Where data directories go; the 1M-key data sets are cached under it between runs. */
  readonly dataDir: string
  /** Entry points for the load: `leader`, `follower`. */
  readonly targets: readonly ('leader' | 'follower')[]
  /** Compare with etcd in the same run (suite, embedded, http). */
  readonly withEtcd: boolean
}

const USAGE = `usage: node build/bench/suite.js <suite|kv|embedded|http|etcd|inprocess|recovery|catchup|failover|memory|profile|breakdown> [flags]

  --seconds N        measured seconds per configuration (default 10; 2 for a quick run)
  --warmup N         warm-up seconds before each window (default 2)
  --concurrency L    operations in flight, comma-separated (default 1,16,128,512)
  --ops L            put,get,get-serializable,txn-cas (default: all)
  --targets L        leader,follower: where the KV load enters the cluster (default: both)
  --keys N           keys for recovery, catchup and memory (default 1000000)
  --trials N         failover trials (default 10)
  --no-sync          breakdown: members write their logs without fsync (what the fsync costs; not durable)
  --etcd             embedded, http, failover, recovery, memory: also run etcd (implied by suite)
  --report           print a markdown table at the end
  --report-file F    also write the table into F between <!-- bench:results --> markers
  --timeout M        stop everything after M minutes (default 90)
  --data-dir D       data directories (default $TMPDIR/metastore-bench)`

/** Parses the flags after the subcommand; prints the usage and exits 2 on a bad one. */
export function parseSuiteOptions(args: readonly string[], defaults: { targets: SuiteOptions['targets'] }): SuiteOptions {
  let values
  try {
    values = parseArgs({
      args: [...args],
      options: {
        seconds: { type: 'string', default: '10' },
        warmup: { type: 'string', default: '2' },
        concurrency: { type: 'string', default: '1,16,128,512' },
        ops: { type: 'string', default: OPS.join(',') },
        targets: { type: 'string' },
        keys: { type: 'string', default: '1000000' },
        trials: { type: 'string', default: '10' },
        'no-sync': { type: 'boolean', default: false },
        etcd: { type: 'boolean', default: false },
        report: { type: 'boolean', default: false },
        'report-file': { type: 'string' },
        timeout: { type: 'string', default: '90' },
        'data-dir': { type: 'string', default: join(tmpdir(), 'metastore-bench') },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }).values
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`)
    process.exit(2)
  }
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const num = (name: string, v: string, min: number): number => {
    const n = Number(v)
    if (!Number.isFinite(n) || n < min) {
      console.error(`--${name} must be a number >= ${min} (got ${JSON.stringify(v)})`)
      process.exit(2)
    }
    return n
  }
  const list = <T extends string>(name: string, v: string, allowed: readonly T[]): T[] => {
    const items = v.split(',').map((s) => s.trim()).filter((s) => s !== '')
    for (const i of items) {
      if (!allowed.includes(i as T)) {
        console.error(`--${name}: ${JSON.stringify(i)} is not one of ${allowed.join(', ')}`)
        process.exit(2)
      }
    }
    return items as T[]
  }
  return {
    seconds: num('seconds', values.seconds, 0.1),
    warmupSeconds: num('warmup', values.warmup, 0),
    concurrency: values.concurrency.split(',').map((c) => num('concurrency', c, 1)),
    ops: list('ops', values.ops, OPS),
    targets: values.targets === undefined ? defaults.targets : list('targets', values.targets, ['leader', 'follower'] as const),
    keys: Math.floor(num('keys', values.keys, 1)),
    trials: Math.floor(num('trials', values.trials, 1)),
    noSync: values['no-sync'],
    withEtcd: values.etcd,
    report: values.report,
    ...(values['report-file'] !== undefined ? { reportFile: values['report-file'] } : {}),
    timeoutMinutes: num('timeout', values.timeout, 0.1),
    dataDir: values['data-dir'],
  }
}

export { USAGE }
