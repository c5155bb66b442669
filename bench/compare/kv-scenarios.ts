/**
 * The three KV scenarios: `embedded` (the load runs inside a member's process, through the
 * library API), `http` (a client process drives the `metastore` servers' JSON API) and `etcd` (a
 * client process drives a 3-member etcd cluster with the etcd3 client).
 *
 * @module
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { EtcdCluster, etcdVersion } from './etcd-cluster.js'
import { IpcProc } from './ipc-proc.js'
import { runMatrix, type MatrixTarget } from './matrix.js'
import { NodeCluster } from './node-cluster.js'
import type { SuiteOptions } from './options.js'
import type { BenchLine } from './result.js'
import { ServerCluster } from './server-cluster.js'

function clientProc(system: 'http' | 'etcd', endpoint: string, target: string): IpcProc<unknown> {
  return new IpcProc<unknown>(`${system} client (${target})`, './client-child.js', 'BENCH_CLIENT', { system, endpoint })
}

/** A 3-member cluster in child processes; the load runs in the leader, then in a follower. */
export async function embedded(options: SuiteOptions, etcd: readonly BenchLine[] = []): Promise<BenchLine[]> {
  const dir = join(options.dataDir, 'embedded')
  rmSync(dir, { recursive: true, force: true })
  const cluster = await NodeCluster.start(dir)
  try {
    const targets: MatrixTarget[] = []
    for (const target of options.targets) targets.push({ target, proc: target === 'leader' ? await cluster.leader() : await cluster.follower() })
    return await runMatrix('metastore', 'embedded', targets, () => cluster.pids, options, etcd)
  } finally {
    await cluster.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The same cluster behind `metastore` servers, driven over HTTP from a client process. */
export async function http(options: SuiteOptions, etcd: readonly BenchLine[] = []): Promise<BenchLine[]> {
  const dir = join(options.dataDir, 'http')
  const cluster = await ServerCluster.start(dir)
  const clients: IpcProc<unknown>[] = []
  try {
    const targets: MatrixTarget[] = []
    for (const target of options.targets) {
      const server = target === 'leader' ? await cluster.leader() : await cluster.follower()
      const proc = clientProc('http', server.url, target)
      clients.push(proc)
      await proc.ready
      targets.push({ target, proc })
    }
    return await runMatrix('metastore', 'http', targets, () => cluster.pids, options, etcd)
  } finally {
    await Promise.all(clients.map((c) => c.stop()))
    await cluster.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** A 3-member etcd cluster driven by the etcd3 client from a client process. */
export async function etcd(options: SuiteOptions): Promise<BenchLine[]> {
  const dir = join(options.dataDir, 'etcd')
  const cluster = await EtcdCluster.start(dir)
  console.error(`etcd: ${etcdVersion(cluster.binary)}`)
  const clients: IpcProc<unknown>[] = []
  try {
    const targets: MatrixTarget[] = []
    for (const target of options.targets) {
      const member = target === 'leader' ? await cluster.leader() : await cluster.follower()
      const proc = clientProc('etcd', member.clientUrl, target)
      clients.push(proc)
      await proc.ready
      targets.push({ target, proc })
    }
    return await runMatrix('etcd', 'etcd', targets, () => cluster.pids, options)
  } finally {
    await Promise.all(clients.map((c) => c.stop()))
    await cluster.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}
