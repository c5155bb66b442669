/**
 * etcd beside metastore's `recovery` and `memory`: a single-member etcd holding the same N keys
 * (`fill-<i>`, 256-byte values, written once in transactions of 128 puts and kept between runs),
 * timed from process start to its first linearizable read, and its resident memory.
 *
 * @module
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { EtcdCluster } from './etcd-cluster.js'
import { IpcProc } from './ipc-proc.js'
import type { SuiteOptions } from './options.js'
import { rssBytes, waitFor } from './procs.js'
import { emit, type BenchLine } from './result.js'
import type { LoadFigures } from './workload.js'

const MB = 1024 * 1024
const round3 = (v: number): number => Math.round(v * 1000) / 1000
const FORMAT = 1

interface EtcdDataset {
  readonly format: number
  readonly keys: number
  readonly ports: number[]
  readonly fillSeconds: number
}

/** The cached single-member etcd holding N keys: its directory and what building it measured. */
async function etcdDataset(options: SuiteOptions): Promise<{ dir: string; info: EtcdDataset }> {
  const root = join(options.dataDir, `etcd-dataset-${options.keys}`)
  const dir = join(root, 'data')
  const marker = join(root, 'dataset.json')
  if (existsSync(marker)) {
    const info = JSON.parse(readFileSync(marker, 'utf8')) as EtcdDataset
    if (info.format === FORMAT && info.keys === options.keys) return { dir, info }
  }
  rmSync(root, { recursive: true, force: true })
  console.error(`building the ${options.keys}-key etcd data set in ${dir} (cached for later runs)`)
  const cluster = await EtcdCluster.start(dir, 1)
  const client = new IpcProc<unknown>('etcd client', './client-child.js', 'BENCH_CLIENT', { system: 'etcd', endpoint: cluster.members[0].clientUrl })
  try {
    await client.ready
    const r = await client.call<{ seconds: number }>('fill', { keys: options.keys })
    const info: EtcdDataset = { format: FORMAT, keys: options.keys, ports: cluster.ports, fillSeconds: Math.round(r.seconds * 100) / 100 }
    writeFileSync(marker, JSON.stringify(info))
    return { dir, info }
  } finally {
    await client.stop()
    await cluster.stop()
  }
}

/** A linearizable read through etcd's JSON gateway (the default for a range). */
async function linearizableRead(clientUrl: string): Promise<true | undefined> {
  const res = await fetch(`${clientUrl}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('fill-0000000000').toString('base64') }), signal: AbortSignal.timeout(1000) })
  return res.ok ? true : undefined
}

/** Process start to the first linearizable read, 3 trials; then RSS idle and after a put load. */
export async function etcdRecoveryAndMemory(options: SuiteOptions): Promise<BenchLine[]> {
  const { dir, info } = await etcdDataset(options)
  const trials: number[] = []
  let idleRss = 0
  let loadedRss = 0
  let putOpsPerSec = 0
  for (let i = 0; i < 3; i++) {
    const started = performance.now()
    const cluster = await EtcdCluster.start(dir, 1, info.ports, false)
    try {
      const url = cluster.members[0].clientUrl
      await waitFor('etcd to serve a linearizable read', () => linearizableRead(url), 120_000, 5)
      trials.push(performance.now() - started)
      if (i === 2) {
        idleRss = rssBytes(cluster.pids[0])
        const client = new IpcProc<unknown>('etcd client', './client-child.js', 'BENCH_CLIENT', { system: 'etcd', endpoint: url })
        try {
          await client.ready
          const f = await client.call<LoadFigures>('load', { op: 'put', concurrency: 128, seconds: options.seconds, warmupSeconds: 0 })
          putOpsPerSec = f.opsPerSec
          loadedRss = rssBytes(cluster.pids[0])
        } finally {
          await client.stop()
        }
      }
    } finally {
      await cluster.stop()
    }
  }
  const sorted = [...trials].sort((a, b) => a - b)
  const base = { system: 'etcd' as const, concurrency: 0, opsPerSec: 0, cpu: { client: 0, servers: 0 } }
  const recovery: BenchLine = {
    ...base,
    scenario: 'recovery',
    op: 'start-to-linearizable-read',
    ops: trials.length,
    seconds: round3(trials.reduce((a, b) => a + b, 0) / 1000),
    p50: round3(sorted[1]),
    p99: round3(sorted[2]),
    p999: round3(sorted[2]),
    extra: { trialsMs: trials.map(round3), keys: options.keys, fillSeconds: info.fillSeconds, fillKeysPerSec: Math.round(options.keys / info.fillSeconds) },
  }
  const memory: BenchLine = {
    ...base,
    scenario: 'memory',
    op: 'rss',
    ops: 0,
    seconds: 0,
    p50: 0,
    p99: 0,
    p999: 0,
    extra: {
      keys: options.keys,
      rssMbIdle: round3(idleRss / MB),
      rssMbAfterPutLoad: round3(loadedRss / MB),
      putLoad: { concurrency: 128, seconds: options.seconds, opsPerSec: putOpsPerSec },
    },
  }
  emit(recovery)
  emit(memory)
  return [recovery, memory]
}
