/**
 * One printed figure: a JSON line per measured configuration, the same shape for every system and
 * scenario, so that lines from one run can be compared and turned into a table.
 *
 * @module
 */
import type { LoadFigures } from './workload.js'

/** The systems a figure can belong to. */
export type SystemName = 'metastore' | 'etcd'

/** A measured configuration. Latencies are milliseconds; cpu is average cores busy in the window. */
export interface BenchLine {
  readonly system: SystemName
  readonly scenario: string
  readonly op: string
  /** Operations in flight (0 where it does not apply). */
  readonly concurrency: number
  readonly ops: number
  readonly seconds: number
  readonly opsPerSec: number
  readonly p50: number
  readonly p99: number
  readonly p999: number
  /**
   * CPU in the measured window, in cores (CPU seconds / wall seconds): `client` is the process
   * that ran the load, `servers` the sum over the members (the embedded scenario's load runs in a
   * member, so its client is 0 and its CPU is counted in `servers`).
   */
  readonly cpu: { readonly client: number; readonly servers: number }
  readonly errors?: number
  readonly firstError?: string
  /** Where the load entered the cluster: `leader` or `follower`. */
  readonly target?: string
  /** metastore / etcd for the same configuration of the same run (>1: metastore is higher). */
  readonly vsEtcd?: { readonly opsPerSec: number; readonly p50: number; readonly p99: number }
  /** Anything else a scenario measures (sizes, per-trial times). */
  readonly extra?: Readonly<Record<string, unknown>>
}

const round2 = (v: number): number => Math.round(v * 100) / 100

/** A line from a closed loop's figures. */
export function lineOf(
  base: { system: SystemName; scenario: string; op: string; concurrency: number; target?: string },
  f: LoadFigures,
  cpu: { client: number; servers: number },
): BenchLine {
  return {
    ...base,
    ops: f.ops,
    seconds: f.seconds,
    opsPerSec: f.opsPerSec,
    p50: f.p50,
    p99: f.p99,
    p999: f.p999,
    cpu: { client: round2(cpu.client), servers: round2(cpu.servers) },
    ...(f.errors > 0 ? { errors: f.errors, firstError: f.firstError } : {}),
  }
}

/** Every line printed so far in this run (the report is made from them). */
export const printed: BenchLine[] = []

/** Prints a line (and keeps it for the report). */
export function emit(line: BenchLine): void {
  printed.push(line)
  console.log(JSON.stringify(line))
}

/** The ratios of a metastore figure to etcd's for the same op and concurrency, if etcd ran. */
export function withRatio(line: BenchLine, etcd: readonly BenchLine[]): BenchLine {
  const twin = etcd.find((e) => e.op === line.op && e.concurrency === line.concurrency && (e.target ?? 'leader') === (line.target ?? 'leader'))
    ?? etcd.find((e) => e.op === line.op && e.concurrency === line.concurrency)
  if (!twin || twin.opsPerSec === 0) return line
  const ratio = (a: number, b: number): number => (b > 0 ? round2(a / b) : NaN)
  return { ...line, vsEtcd: { opsPerSec: ratio(line.opsPerSec, twin.opsPerSec), p50: ratio(line.p50, twin.p50), p99: ratio(line.p99, twin.p99) } }
}
