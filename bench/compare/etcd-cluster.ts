/**
 * A 3-member etcd cluster for the side-by-side figures: etcd processes on loopback ports, data
 * in temporary directories, etcd's default durability (fsync of the WAL on every commit) and
 * default timeouts (100 ms heartbeat, 1 s election). etcd comes from the `etcd-server` Debian
 * package, installed if missing.
 *
 * @module
 */
import type { ChildProcess } from 'node:child_process'
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { cpuSeconds, exited, freePorts, spawnTracked, waitFor } from './procs.js'

/** The etcd binary, installing Debian's `etcd-server` when it is missing (says so on stderr). */
export function ensureEtcd(): string {
  const find = (): string | undefined => {
    try {
      return execFileSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' }).trim() || undefined
    } catch {
      return undefined
    }
  }
  const found = find()
  if (found) return found
  console.error('etcd is not installed: running apt-get install -y etcd-server')
  execFileSync('sh', ['-c', 'apt-get install -y etcd-server || (apt-get update && apt-get install -y etcd-server)'], { stdio: ['ignore', 'ignore', 'inherit'] })
  const installed = find()
  if (!installed) throw new Error('etcd could not be installed (apt-get install -y etcd-server)')
  return installed
}

/** The version line of the etcd binary. */
export function etcdVersion(binary: string): string {
  try {
    return execFileSync(binary, ['--version'], { encoding: 'utf8' }).split('\n')[0].replace(/^etcd Version:\s*/, '').trim()
  } catch {
    return 'unknown'
  }
}

interface Member {
  readonly name: string
  readonly clientUrl: string
  readonly peerUrl: string
  readonly dataDir: string
  readonly args: readonly string[]
  child: ChildProcess
}

interface EtcdStatus {
  header?: { member_id?: string }
  leader?: string
}

async function status(clientUrl: string): Promise<EtcdStatus> {
  const res = await fetch(`${clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(2000) })
  if (!res.ok) throw new Error(`status ${res.status}`)
  return (await res.json()) as EtcdStatus
}

export class EtcdCluster {
  readonly members: Member[]
  readonly binary: string

  private constructor(binary: string, members: Member[]) {
    this.binary = binary
    this.members = members
  }

  /**
   * Starts `size` members under `baseDir` and waits until they agree on a leader. The directory
   * is emptied first, unless `ports` are given: then the members start again on the data they
   * hold (etcd ignores the initial-cluster flags), on the ports they had.
   */
  static async start(baseDir: string, size = 3, ports?: readonly number[], waitForLeader = true): Promise<EtcdCluster> {
    const binary = ensureEtcd()
    if (!ports) rmSync(baseDir, { recursive: true, force: true })
    ports ??= await freePorts(size * 2)
    const token = `bench-${process.pid}-${Date.now()}`
    const specs = Array.from({ length: size }, (_, i) => ({
      name: `e${i + 1}`,
      clientUrl: `http://127.0.0.1:${ports[2 * i]}`,
      peerUrl: `http://127.0.0.1:${ports[2 * i + 1]}`,
      dataDir: join(baseDir, `e${i + 1}`),
    }))
    const initialCluster = specs.map((s) => `${s.name}=${s.peerUrl}`).join(',')
    const members: Member[] = specs.map((s) => {
      // etcd warns about a data directory others can read.
      mkdirSync(s.dataDir, { recursive: true })
      chmodSync(s.dataDir, 0o700)
      const args = [
        '--name', s.name,
        '--data-dir', s.dataDir,
        '--listen-client-urls', s.clientUrl,
        '--advertise-client-urls', s.clientUrl,
        '--listen-peer-urls', s.peerUrl,
        '--initial-advertise-peer-urls', s.peerUrl,
        '--initial-cluster', initialCluster,
        '--initial-cluster-token', token,
        '--initial-cluster-state', 'new',
        '--logger', 'zap',
        '--log-level', 'error',
      ]
      return { ...s, args, child: spawnTracked(binary, args, { stdio: ['ignore', 'ignore', 'inherit'] }) }
    })
    const cluster = new EtcdCluster(binary, members)
    if (waitForLeader) await cluster.leader(60_000)
    return cluster
  }

  /** The member the running members agree leads (bounded wait). */
  async leader(timeoutMs = 30_000): Promise<Member> {
    return waitFor(
      'an etcd leader',
      async () => {
        const running = this.members.filter((m) => m.child.exitCode === null && m.child.signalCode === null)
        const statuses = await Promise.all(running.map((m) => status(m.clientUrl)))
        const leader = statuses[0]?.leader
        if (!leader || leader === '0' || statuses.some((s) => s.leader !== leader)) return undefined
        return running[statuses.findIndex((s) => s.header?.member_id === leader)]
      },
      timeoutMs,
      100,
    )
  }

  async follower(): Promise<Member> {
    const leader = await this.leader()
    const f = this.members.find((m) => m !== leader && m.child.exitCode === null)
    if (!f) throw new Error('no etcd follower is running')
    return f
  }

  /** Starts a killed member again on its data directory (etcd then ignores the initial-cluster flags). */
  restart(member: Member): void {
    member.child = spawnTracked(this.binary, member.args, { stdio: ['ignore', 'ignore', 'inherit'] })
  }

  /** Waits until every member answers and agrees on the leader, and their raft indexes match. */
  async settled(timeoutMs = 60_000): Promise<void> {
    await waitFor(
      'the etcd members to settle',
      async () => {
        const statuses = await Promise.all(this.members.map((m) => status(m.clientUrl)))
        const leader = statuses[0]?.leader
        if (!leader || statuses.some((s) => s.leader !== leader)) return undefined
        const indexes = statuses.map((s) => Number((s as { raftAppliedIndex?: string; raftIndex?: string }).raftIndex ?? 0))
        return indexes.every((i) => i === indexes[0]) ? true : undefined
      },
      timeoutMs,
      100,
    )
  }

  /** The ports of the members (client, peer, client, peer, ...), to start them again on their data. */
  get ports(): number[] {
    return this.members.flatMap((m) => [Number(new URL(m.clientUrl).port), Number(new URL(m.peerUrl).port)])
  }

  get pids(): number[] {
    return this.members.filter((m) => m.child.exitCode === null && m.child.signalCode === null).map((m) => m.child.pid ?? 0)
  }

  /** CPU seconds used so far by the running members. */
  cpuSeconds(): number {
    return this.pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0)
  }

  async stop(): Promise<void> {
    for (const m of this.members) m.child.kill('SIGTERM')
    await Promise.all(this.members.map((m) => exited(m.child)))
  }
}
