/**
 * A 3-member cluster of `metastore` servers (examples/server) as child processes: the TCP
 * transport between them on loopback, LevelDB data in temporary directories, and the JSON API
 * on a client port each.
 *
 * @module
 */
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { exited, freePorts, spawnTracked, waitFor } from './procs.js'

/** The compiled `metastore` command, next to this build's bench/ directory. */
export const SERVER_MAIN = fileURLToPath(new URL('../../examples/server/main.js', import.meta.url))
const SERVER_MODULE = fileURLToPath(new URL('../../examples/server/server.js', import.meta.url))

/** Whether the built server is the real one (its `server.js` module is present), not the usage stub. */
export function serverAvailable(): boolean {
  return existsSync(SERVER_MAIN) && existsSync(SERVER_MODULE)
}

interface Server {
  readonly id: number
  readonly url: string
  readonly child: ChildProcess
}

async function json(url: string): Promise<Record<string, unknown>> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) })
  if (!res.ok) throw new Error(`${url}: ${res.status}`)
  return (await res.json()) as Record<string, unknown>
}

export class ServerCluster {
  readonly servers: Server[]

  private constructor(servers: Server[]) {
    this.servers = servers
  }

  /** Starts `size` servers with data under `baseDir` (emptied first); waits until all are healthy. */
  static async start(baseDir: string, size = 3): Promise<ServerCluster> {
    if (!serverAvailable()) throw new Error(`the metastore server is not built (${SERVER_MODULE} is missing)`)
    rmSync(baseDir, { recursive: true, force: true })
    const ports = await freePorts(size * 2)
    const peerUrls = Array.from({ length: size }, (_, i) => `tcp://127.0.0.1:${ports[2 * i + 1]}`).join(',')
    const servers: Server[] = []
    for (let i = 0; i < size; i++) {
      const dataDir = join(baseDir, String(i + 1))
      mkdirSync(dataDir, { recursive: true })
      const child = spawnTracked(
        process.execPath,
        [SERVER_MAIN, '--id', String(i + 1), '--cluster', peerUrls, '--port', String(ports[2 * i]), '--data', dataDir, '--log-level', 'error'],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      )
      servers.push({ id: i + 1, url: `http://127.0.0.1:${ports[2 * i]}`, child })
    }
    const cluster = new ServerCluster(servers)
    for (const s of servers) {
      await waitFor(`server ${s.id} to be healthy`, async () => ((await fetch(`${s.url}/health`, { signal: AbortSignal.timeout(2000) })).ok ? true : undefined), 60_000, 100)
    }
    await cluster.leader()
    return cluster
  }

  /** The server all running servers name as leader (bounded wait). */
  async leader(timeoutMs = 30_000): Promise<Server> {
    return waitFor(
      'a server leader',
      async () => {
        const running = this.servers.filter((s) => s.child.exitCode === null && s.child.signalCode === null)
        const leaders = await Promise.all(running.map(async (s) => Number((await json(`${s.url}/v1/status`)).leader)))
        if (!leaders[0] || leaders.some((l) => l !== leaders[0])) return undefined
        return running.find((s) => s.id === leaders[0])
      },
      timeoutMs,
      100,
    )
  }

  async follower(): Promise<Server> {
    const leader = await this.leader()
    const f = this.servers.find((s) => s !== leader && s.child.exitCode === null)
    if (!f) throw new Error('no follower server is running')
    return f
  }

  get pids(): number[] {
    return this.servers.filter((s) => s.child.exitCode === null && s.child.signalCode === null).map((s) => s.child.pid ?? 0)
  }

  async stop(): Promise<void> {
    for (const s of this.servers) s.child.kill('SIGTERM')
    await Promise.all(this.servers.map((s) => exited(s.child)))
  }
}
