// Helpers of the server's end-to-end tests: free ports, `metastore` processes started from the
// compiled output beside this file, bounded polls, and plain-HTTP calls.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

// The compiled `metastore` command, found relative to this compiled test (so it works from any build folder).
export const SERVER_MAIN = fileURLToPath(new URL('../../examples/server/main.js', import.meta.url))
export const CLUSTER_MAIN = fileURLToPath(new URL('../../examples/cluster/main.js', import.meta.url))

/** Fast ticks keep elections short; the election timeout stays well above scheduling hiccups. */
export const FAST = ['--tick-ms', '25', '--election-tick', '12']

/**
 * The range the system hands out local ports of outgoing connections from (Linux), or undefined.
 * A port in it can be taken by any connection of any process between the moment a test finds it
 * free and the moment a node binds it; ports below it are only ever taken by listeners.
 */
function ephemeralRange(): [number, number] | undefined {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number)
    return Number.isInteger(low) && Number.isInteger(high) && low > 12_000 ? [low, high] : undefined
  } catch {
    return undefined
  }
}

function bindPort(port: number): Promise<ReturnType<typeof createServer> | undefined> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(undefined))
    s.listen(port, '127.0.0.1', () => resolve(s))
  })
}

/**
 * `n` distinct free ports (all held open at once while picking, so none repeats). On Linux they
 * are picked at random below the ephemeral range (so that no outgoing connection takes one before
 * the node that is given it binds it); elsewhere the system picks them.
 */
export async function freePorts(n: number): Promise<number[]> {
  const range = ephemeralRange()
  const servers: Array<ReturnType<typeof createServer>> = []
  const ports = new Set<number>()
  try {
    for (let tries = 0; servers.length < n; tries++) {
      const wanted = range && tries < 50 * n ? 10_000 + Math.floor(Math.random() * (range[0] - 10_000)) : 0
      if (wanted !== 0 && ports.has(wanted)) continue
      const s = await bindPort(wanted)
      if (!s) continue
      servers.push(s)
      ports.add((s.address() as AddressInfo).port)
    }
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
  }
  return [...ports]
}

/** Polls `check` until it returns something other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined && v !== false) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

export interface Answer {
  readonly status: number
  readonly text: string
  readonly headers: Headers
  /** The body parsed as JSON (undefined if it is not JSON). */
  readonly json: any
}

/** One HTTP call, bounded (a server that hangs fails the test instead of stalling it). */
export async function call(url: string, init: RequestInit & { timeoutMs?: number } = {}): Promise<Answer> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(init.timeoutMs ?? 20_000) })
  const text = await res.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, text, headers: res.headers, json }
}

/** A JSON request. */
export function jsonCall(url: string, method: string, body?: unknown, timeoutMs?: number): Promise<Answer> {
  return call(url, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    ...(timeoutMs ? { timeoutMs } : {}),
  })
}

/** One `metastore` process. */
export interface NodeProc {
  readonly id: number
  readonly clientUrl: string
  readonly peerUrl: string
  child: ChildProcess
  /** Everything it wrote to stderr so far. */
  log: string
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** A set of `metastore` processes on free ports in a temp directory, all killed in teardown. */
export class ProcCluster {
  readonly dir: string
  readonly peerUrls: string[]
  readonly clientPorts: number[]
  readonly nodes = new Map<number, NodeProc>()
  readonly extraArgs: string[]

  private constructor(dir: string, peerPorts: number[], clientPorts: number[], extraArgs: string[]) {
    this.dir = dir
    this.peerUrls = peerPorts.map((p) => `http://127.0.0.1:${p}`)
    this.clientPorts = clientPorts
    this.extraArgs = extraArgs
  }

  /** Reserves ports for `slots` nodes (more than the initial members, to add some later). */
  static async create(slots: number, extraArgs: string[] = []): Promise<ProcCluster> {
    const ports = await freePorts(slots * 2)
    const dir = mkdtempSync(join(tmpdir(), 'metastore-server-'))
    return new ProcCluster(dir, ports.slice(0, slots), ports.slice(slots), extraArgs)
  }

  clientUrl(id: number): string {
    return `http://127.0.0.1:${this.clientPorts[id - 1]}`
  }

  /** Starts node `id` with the peer URLs of the first `members` slots (and `args`). */
  start(id: number, members: number, args: string[] = []): NodeProc {
    const cluster = this.peerUrls.slice(0, Math.max(members, id)).join(',')
    const child = spawn(
      process.execPath,
      [SERVER_MAIN, '--id', String(id), '--cluster', cluster, '--port', String(this.clientPorts[id - 1]), '--data', join(this.dir, String(id)), ...FAST, ...this.extraArgs, ...args],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
    const proc: NodeProc = {
      id,
      clientUrl: this.clientUrl(id),
      peerUrl: this.peerUrls[id - 1],
      child,
      log: '',
      exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
    }
    child.stderr!.setEncoding('utf8')
    child.stderr!.on('data', (chunk: string) => {
      proc.log += chunk
    })
    this.nodes.set(id, proc)
    return proc
  }

  /** Kills node `id` (SIGKILL by default) and waits for it to be gone. */
  async kill(id: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const proc = this.nodes.get(id)
    if (!proc) throw new Error(`no node ${id}`)
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill(signal)
    return proc.exited
  }

  /** Waits until node `id` answers /health with 200; returns the leader it reports. */
  healthy(id: number, timeoutMs = 30_000): Promise<number> {
    return waitFor(`node ${id} healthy`, async () => {
      const a = await call(`${this.clientUrl(id)}/health`, { timeoutMs: 2000 })
      return a.status === 200 ? (a.json.leader as number) : undefined
    }, timeoutMs)
  }

  /** The leader, once every node in `ids` is healthy and agrees on it. */
  async leader(ids: readonly number[], timeoutMs = 30_000): Promise<number> {
    return waitFor(`a leader agreed by nodes ${ids.join(', ')}`, async () => {
      const leaders = await Promise.all(ids.map(async (id) => {
        const a = await call(`${this.clientUrl(id)}/health`, { timeoutMs: 2000 })
        return a.status === 200 ? (a.json.leader as number) : 0
      }))
      return leaders.every((l) => l !== 0 && l === leaders[0]) ? leaders[0] : undefined
    }, timeoutMs)
  }

  /** Kills every process and removes the data. */
  async destroy(): Promise<void> {
    await Promise.all([...this.nodes.keys()].map((id) => this.kill(id)))
    rmSync(this.dir, { recursive: true, force: true })
  }

  /** Every node's log, for a failure message. */
  logs(): string {
    return [...this.nodes.values()].map((n) => `--- node ${n.id}\n${n.log}`).join('\n')
  }
}

/** Puts through the classic API, retrying while the cluster answers 503 (an election under way). */
export async function putEventually(url: string, key: string, value: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(`PUT ${key} through ${url}`, async () => {
    const a = await call(`${url}/${encodeURIComponent(key)}`, { method: 'PUT', body: value, timeoutMs: 10_000 })
    if (a.status === 503) return undefined
    if (a.status !== 204) throw new Error(`PUT ${key}: ${a.status} ${a.text}`)
    return true
  }, timeoutMs, 100)
}
