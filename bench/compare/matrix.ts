/**
 * The KV matrix shared by the embedded, http and etcd scenarios: for each entry point (leader,
 * follower), each operation and each concurrency, one measured closed loop and one printed line.
 *
 * @module
 */
import { loadVia, type IpcProc } from './ipc-proc.js'
import type { SuiteOptions } from './options.js'
import { emit, lineOf, withRatio, type BenchLine, type SystemName } from './result.js'

/** Where a load runs (a member, or a client process bound to one member) and what it enters. */
export interface MatrixTarget {
  readonly target: 'leader' | 'follower'
  readonly proc: IpcProc<unknown>
}

/**
 * Primes every key through the first target, then measures every configuration. Lines of
 * `etcd` (same run) give the ratios. Returns the lines printed.
 */
export async function runMatrix(
  system: SystemName,
  scenario: string,
  targets: readonly MatrixTarget[],
  serverPids: () => number[],
  options: SuiteOptions,
  etcd: readonly BenchLine[] = [],
): Promise<BenchLine[]> {
  const lines: BenchLine[] = []
  if (targets.length === 0) return lines
  await targets[0].proc.call('prime')
  for (const { target, proc } of targets) {
    for (const op of options.ops) {
      for (const concurrency of options.concurrency) {
        const { figures, cpu } = await loadVia(proc, { op, concurrency, seconds: options.seconds, warmupSeconds: options.warmupSeconds }, serverPids())
        const line = withRatio(lineOf({ system, scenario, op, concurrency, target }, figures, cpu), etcd)
        emit(line)
        lines.push(line)
      }
    }
  }
  return lines
}
