/**
 * The scenarios about a node's life rather than its steady load: `recovery` (process start to
 * serving linearizable reads, holding N keys on LevelDB), `catchup` (a new member joins a
 * 3-member cluster holding N keys: snapshot streaming), `failover` (SIGKILL of the leader to the
 * first acknowledged write) and `memory` (resident memory of a member holding N keys).
 *
 * @module
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { dataset, FILL_BATCH, FILL_IN_FLIGHT } from './dataset.js'
import { NodeCluster, NodeProc } from './node-cluster.js'
import type { SuiteOptions } from './options.js'
import { EtcdCluster } from './etcd-cluster.js'
import { IpcProc } from './ipc-proc.js'
import { exited, freePort, rssBytes, waitFor } from './procs.js'
import { emit, type BenchLine } from './result.js'
import type { FirstAck } from './workload.js'

const round3 = (v: number): number => Math.round(v * 1000) / 1000
const MB = 1024 * 1024

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)]
}

function quantileOf(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(s.length * q))]
}

/** A line for a scenario that measures durations (ms) over trials rather than a load. */
function timingLine(scenario: string, op: string, trialsMs: readonly number[], extra: Record<string, unknown>): BenchLine {
  return {
    system: 'metastore',
    scenario,
    op,
    concurrency: 0,
    ops: trialsMs.length,
    seconds: round3(trialsMs.reduce((a, b) => a + b, 0) / 1000),
    opsPerSec: 0,
    p50: round3(median(trialsMs)),
    p99: round3(quantileOf(trialsMs, 0.99)),
    p999: round3(quantileOf(trialsMs, 0.999)),
    cpu: { client: 0, servers: 0 },
    extra: { trialsMs: trialsMs.map(round3), ...extra },
  }
}

const RECOVERY_TRIALS = 3
/** How long a newcomer may take to catch up before the catchup scenario gives up. */
const CATCHUP_BOUND_MS = 10 * 60_000

/** Process start to the first linearizable read served, on the cached N-key data set. */
export async function recovery(options: SuiteOptions): Promise<BenchLine[]> {
  const { dir, info, built } = await dataset(options.dataDir, options.keys)
  const trials: number[] = []
  const breakdown: unknown[] = []
  for (let i = 0; i < RECOVERY_TRIALS; i++) {
    const proc = new NodeProc({ id: 1, peers: [], dataDir: dir, engine: 'level', clusterId: 'bench-dataset', probeServing: true })
    try {
      const timings = await proc.ready
      trials.push(performance.now() - proc.startedAt)
      breakdown.push({ modulesLoadedMs: round3(timings.modulesLoadedMs), nodeCreatedMs: round3(timings.nodeCreatedMs), servingMs: round3(timings.servingMs ?? NaN) })
    } finally {
      await proc.stop()
    }
  }
  const line = timingLine('recovery', 'start-to-linearizable-read', trials, {
    keys: options.keys,
    childTimings: breakdown,
    fillSeconds: info.fillSeconds,
    fillKeysPerSec: Math.round(info.keys / info.fillSeconds),
    datasetBuiltThisRun: built,
  })
  emit(line)
  return [line]
}

/** Resident memory of a member holding the N-key data set: after start, and after a put load. */
export async function memory(options: SuiteOptions): Promise<BenchLine[]> {
  const { dir, info } = await dataset(options.dataDir, options.keys)
  const proc = new NodeProc({ id: 1, peers: [], dataDir: dir, engine: 'level', clusterId: 'bench-dataset', probeServing: true }, ['--expose-gc'])
  try {
    await proc.ready
    const idle = await proc.call<NodeJS.MemoryUsage>('memory')
    const idleRss = rssBytes(proc.pid)
    const figures = await proc.call<{ opsPerSec: number }>('load', { op: 'put', concurrency: 128, seconds: options.seconds, warmupSeconds: 0 })
    const loadedRss = rssBytes(proc.pid)
    const loaded = await proc.call<NodeJS.MemoryUsage>('memory')
    const line: BenchLine = {
      system: 'metastore',
      scenario: 'memory',
      op: 'rss',
      concurrency: 0,
      ops: 0,
      seconds: 0,
      opsPerSec: 0,
      p50: 0,
      p99: 0,
      p999: 0,
      cpu: { client: 0, servers: 0 },
      extra: {
        keys: options.keys,
        rssMbIdle: round3(idleRss / MB),
        heapUsedMbIdle: round3(idle.heapUsed / MB),
        rssMbAfterPutLoad: round3(loadedRss / MB),
        heapUsedMbAfterPutLoad: round3(loaded.heapUsed / MB),
        putLoad: { concurrency: 128, seconds: options.seconds, opsPerSec: figures.opsPerSec },
        writerRssMbAfterFill: round3(info.writerRssBytes / MB),
      },
    }
    emit(line)
    return [line]
  } finally {
    await proc.stop()
  }
}

/**
 * A 4th member joins a 3-member cluster holding N keys. The members snapshot often enough
 * (`snapshotEvery`, `compactKeep`) that the log the newcomer needs is compacted away: it gets
 * the state as a snapshot. Timed from `addLearner` to the newcomer having applied what was
 * committed then.
 */
export async function catchup(options: SuiteOptions): Promise<BenchLine[]> {
  const dir = join(options.dataDir, 'catchup')
  rmSync(dir, { recursive: true, force: true })
  const entries = Math.ceil(options.keys / FILL_BATCH)
  const snapshotEvery = Math.max(10, Math.floor(entries / 2))
  const cluster = await NodeCluster.start(dir, { snapshotEvery, compactKeep: 10 })
  try {
    const leader = await cluster.leader()
    const fillStarted = performance.now()
    await leader.call('fill', { keys: options.keys, batch: FILL_BATCH, inFlight: FILL_IN_FLIGHT })
    const fillSeconds = (performance.now() - fillStarted) / 1000
    const port = await freePort()
    const joiner = cluster.join(4, port, join(dir, '4'))
    await joiner.ready
    const target = (await leader.status()).commitIndex
    const started = performance.now()
    await leader.call('addLearner', { id: 4, address: `tcp://127.0.0.1:${port}` })
    // Bounded: a catch-up that cannot finish fails the scenario (with where the newcomer stands).
    await waitFor('the new member to catch up', async () => ((await joiner.status()).appliedIndex >= target ? true : undefined), CATCHUP_BOUND_MS, 20).catch(async (err: Error) => {
      const s = await joiner.status().catch(() => undefined)
      throw new Error(`${err.message} (newcomer: ${JSON.stringify(s)}, target index ${target}, newcomer RSS ${round3(rssBytes(joiner.pid) / MB)} MiB)`)
    })
    const ms = performance.now() - started
    const count = await joiner.call<number>('count', { prefix: 'fill-' })
    // Its log starts past index 1 only if it began from a snapshot.
    const fromSnapshot = (await joiner.status()).firstIndex > 1
    const line = timingLine('catchup', 'join-as-learner', [ms], {
      keys: options.keys,
      keysOnNewMember: count,
      fromSnapshot,
      fillSecondsThreeMembers: round3(fillSeconds),
      fillKeysPerSecThreeMembers: Math.round(options.keys / fillSeconds),
      snapshotEvery,
      compactKeep: 10,
      newMemberRssMb: round3(rssBytes(joiner.pid) / MB),
      leaderRssMb: round3(rssBytes(leader.pid) / MB),
    })
    emit(line)
    return [line]
  } finally {
    await cluster.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * SIGKILL the leader, then time until a surviving member gets a put acknowledged (a probe put is
 * sent every 10 ms; the one sent at the kill is timed too); the killed member is restarted and
 * catches up before the next trial. Default timeouts (100 ms ticks, election after 10 to 20
 * ticks).
 */
export async function failover(options: SuiteOptions): Promise<BenchLine[]> {
  const dir = join(options.dataDir, 'failover')
  rmSync(dir, { recursive: true, force: true })
  const cluster = await NodeCluster.start(dir)
  const trials: number[] = []
  const single: number[] = []
  try {
    for (let t = 0; t < options.trials; t++) {
      const leader = await cluster.leader()
      const survivor = cluster.procs.find((p) => p !== leader && p.alive)!
      // The cluster is settled: a write goes through before the kill.
      await survivor.call('put', { key: 'failover-warm' })
      leader.kill()
      const r = await survivor.call<FirstAck>('firstWrite', { key: `failover-${t}` })
      trials.push(r.firstAckMs)
      single.push(r.firstRequestMs)
      const restarted = cluster.restart(leader)
      await restarted.ready
      await cluster.leader(60_000)
      // The restarted member has caught up before the next kill.
      const commit = (await (await cluster.leader()).status()).commitIndex
      await waitFor('the restarted member to catch up', async () => ((await restarted.status()).appliedIndex >= commit ? true : undefined), 60_000)
    }
  } finally {
    await cluster.stop()
    rmSync(dir, { recursive: true, force: true })
  }
  const line = timingLine('failover', 'kill-leader-to-first-write', trials, { trials: options.trials, probeEveryMs: 10, requestSentAtKillMs: single.map(round3) })
  emit(line)
  return [line]
}

/**
 * The same for etcd (default timeouts: 100 ms heartbeat, 1 s election): SIGKILL its leader, then
 * time until the etcd3 client, bound to a surviving member, gets a put acknowledged.
 */
export async function etcdFailover(options: SuiteOptions): Promise<BenchLine[]> {
  const cluster = await EtcdCluster.start(join(options.dataDir, 'etcd-failover'))
  const trials: number[] = []
  const single: number[] = []
  const clients: IpcProc<unknown>[] = []
  try {
    for (let t = 0; t < options.trials; t++) {
      const leader = await cluster.leader()
      const survivor = cluster.members.find((m) => m !== leader)!
      const client = new IpcProc<unknown>('etcd client', './client-child.js', 'BENCH_CLIENT', { system: 'etcd', endpoint: survivor.clientUrl })
      clients.push(client)
      await client.ready
      await client.call('firstWrite', { key: 'failover-warm' })
      leader.child.kill('SIGKILL')
      const r = await client.call<FirstAck>('firstWrite', { key: `failover-${t}` })
      trials.push(r.firstAckMs)
      single.push(r.firstRequestMs)
      await client.stop()
      await exited(leader.child)
      cluster.restart(leader)
      await cluster.settled()
    }
  } finally {
    await Promise.all(clients.map((c) => c.stop()))
    await cluster.stop()
    rmSync(join(options.dataDir, 'etcd-failover'), { recursive: true, force: true })
  }
  const line = { ...timingLine('failover', 'kill-leader-to-first-write', trials, { trials: options.trials, probeEveryMs: 10, requestSentAtKillMs: single.map(round3) }), system: 'etcd' as const }
  emit(line)
  return [line]
}
