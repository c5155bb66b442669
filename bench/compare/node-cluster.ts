/**
 * The parent's side of metastore members run as child processes (`node-child.ts`): start a
 * cluster of them on loopback, find its leader and followers, stop them.
 *
 * @module
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { IpcProc } from './ipc-proc.js'
import { freePorts, waitFor } from './procs.js'
import type { ChildStatus, NodeConfig } from './node-protocol.js'

/** One member process. */
export class NodeProc extends IpcProc<NodeConfig> {
  constructor(config: NodeConfig, execArgv: readonly string[] = []) {
    super(`member ${config.id}`, './node-child.js', 'BENCH_NODE', config, execArgv)
  }

  status(): Promise<ChildStatus> {
    return this.call<ChildStatus>('status')
  }
}

/** Members started together: ids 1..n on free loopback ports. */
export class NodeCluster {
  readonly procs: NodeProc[]
  readonly ports: number[]
  readonly clusterId: string
  readonly baseDir: string

  private constructor(procs: NodeProc[], ports: number[], clusterId: string, baseDir: string) {
    this.procs = procs
    this.ports = ports
    this.clusterId = clusterId
    this.baseDir = baseDir
  }

  /** Starts `size` members with LevelDB under `baseDir/<id>` and waits until they have a leader. */
  static async start(baseDir: string, options: { size?: number; snapshotEvery?: number; compactKeep?: number; spare?: number; noSync?: boolean; execArgv?: readonly string[] } = {}): Promise<NodeCluster> {
    const size = options.size ?? 3
    const ports = await freePorts(size + (options.spare ?? 0))
    const clusterId = `bench-${process.pid}-${Date.now()}`
    const peers = ports.slice(0, size).map((port, i) => ({ id: i + 1, address: `tcp://127.0.0.1:${port}` }))
    const procs: NodeProc[] = []
    for (let i = 0; i < size; i++) {
      const dataDir = join(baseDir, String(i + 1))
      mkdirSync(dataDir, { recursive: true })
      procs.push(
        new NodeProc({
          id: i + 1,
          peers,
          listenPort: ports[i],
          dataDir,
          engine: 'level',
          clusterId,
          ...(options.snapshotEvery !== undefined ? { snapshotEvery: options.snapshotEvery } : {}),
          ...(options.compactKeep !== undefined ? { compactKeep: options.compactKeep } : {}),
          ...(options.noSync === true ? { noSync: true } : {}),
        }, options.execArgv),
      )
    }
    const cluster = new NodeCluster(procs, ports, clusterId, baseDir)
    await Promise.all(procs.map((p) => p.ready))
    await cluster.leader(60_000)
    return cluster
  }

  /** The member every running member agrees is the leader (bounded wait). */
  async leader(timeoutMs = 30_000): Promise<NodeProc> {
    return waitFor(
      'a leader',
      async () => {
        const running = this.procs.filter((p) => p.alive)
        const statuses = await Promise.all(running.map((p) => p.status()))
        const leaderId = statuses[0]?.leader ?? 0
        if (leaderId === 0 || statuses.some((s) => s.leader !== leaderId)) return undefined
        return running.find((p) => p.config.id === leaderId)
      },
      timeoutMs,
    )
  }

  /** A running member that is not the leader. */
  async follower(): Promise<NodeProc> {
    const leader = await this.leader()
    const f = this.procs.find((p) => p.alive && p !== leader)
    if (!f) throw new Error('no follower is running')
    return f
  }

  /** Starts a member again with its configuration (same data, same port) in place of `old`. */
  restart(old: NodeProc): NodeProc {
    const fresh = new NodeProc(old.config)
    this.procs[this.procs.indexOf(old)] = fresh
    return fresh
  }

  /** Starts a member that joins the cluster (`join`), listening on `port`. */
  join(id: number, port: number, dataDir: string): NodeProc {
    mkdirSync(dataDir, { recursive: true })
    const peers = [...this.procs.map((p) => ({ id: p.config.id, address: `tcp://127.0.0.1:${p.config.listenPort}` })), { id, address: `tcp://127.0.0.1:${port}` }]
    const proc = new NodeProc({ id, peers, listenPort: port, dataDir, engine: 'level', clusterId: this.clusterId, join: true })
    this.procs.push(proc)
    return proc
  }

  get pids(): number[] {
    return this.procs.filter((p) => p.alive).map((p) => p.pid)
  }

  async stop(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop()))
  }
}

