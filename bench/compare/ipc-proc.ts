/**
 * A benchmark child process with an IPC channel (a metastore member, or a load client): calls by
 * id with replies, the start timings it reports, and the edges of the measured windows of loads
 * it runs, on which the parent samples CPU counters.
 *
 * @module
 */
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { cpuOf, exited, forkTracked } from './procs.js'
import type { ChildMessage, StartTimings } from './node-protocol.js'
import type { LoadFigures, LoadSpec } from './workload.js'

export class IpcProc<C> {
  readonly label: string
  readonly config: C
  readonly child: ChildProcess
  /** `performance.now()` when the process was forked. */
  readonly startedAt: number
  readonly ready: Promise<StartTimings>
  #nextCall = 1
  readonly #calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  /** Called when a load running in this process reaches an edge of its measured window. */
  onWindow: ((phase: 'start' | 'end') => void) | undefined

  /** Forks `module` (a file next to this one) with `config` as JSON in the environment variable `envName`. */
  constructor(label: string, module: string, envName: string, config: C, execArgv: readonly string[] = []) {
    this.label = label
    this.config = config
    this.startedAt = performance.now()
    this.child = forkTracked(fileURLToPath(new URL(module, import.meta.url)), [], {
      // gRPC (the etcd3 client) would log every reconnection attempt to a member that was stopped.
      env: { GRPC_VERBOSITY: 'NONE', ...process.env, [envName]: JSON.stringify(config) },
      execArgv: [...execArgv],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    this.ready = new Promise<StartTimings>((resolve, reject) => {
      this.child.on('message', (raw) => {
        const m = raw as ChildMessage
        if (m.type === 'ready') resolve(m.timings)
        else if (m.type === 'failed') reject(new Error(`${label} failed to start: ${m.error}`))
        else if (m.type === 'window') this.onWindow?.(m.phase)
        else if (m.type === 'reply') {
          const call = this.#calls.get(m.id)
          this.#calls.delete(m.id)
          if (!call) return
          if (m.error !== undefined) call.reject(new Error(`${label}: ${m.error}`))
          else call.resolve(m.result)
        }
      })
      this.child.on('exit', (code, signal) => {
        const err = new Error(`${label} exited (${signal ?? code})`)
        reject(err)
        for (const c of this.#calls.values()) c.reject(err)
        this.#calls.clear()
      })
    })
    // A start that fails is reported by whoever awaits `ready`.
    this.ready.catch(() => undefined)
  }

  get pid(): number {
    return this.child.pid ?? 0
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  call<T>(method: string, params?: unknown): Promise<T> {
    if (!this.alive) return Promise.reject(new Error(`${this.label} is not running`))
    const id = this.#nextCall++
    return new Promise<T>((resolve, reject) => {
      this.#calls.set(id, { resolve: resolve as (v: unknown) => void, reject })
      this.child.send({ type: 'call', id, method, params })
    })
  }

  /** Asks the process to close cleanly (SIGKILL if it takes more than 10 s). */
  async stop(): Promise<void> {
    if (!this.alive) return
    await this.call('close').catch(() => undefined)
    await exited(this.child)
  }

  kill(): void {
    if (this.alive) this.child.kill('SIGKILL')
  }
}

/**
 * Runs a closed loop in `proc` (a member or a client); the CPU of `proc` and of `serverPids` is
 * sampled at the edges of the window. When `proc` is itself one of the servers, its CPU is
 * counted in `servers` only and `client` is 0.
 */
export async function loadVia<C>(
  proc: IpcProc<C>,
  spec: LoadSpec,
  serverPids: readonly number[],
  onWindow?: (phase: 'start' | 'end') => void,
): Promise<{ figures: LoadFigures; cpu: { client: number; servers: number } }> {
  const clientPid = serverPids.includes(proc.pid) ? 0 : proc.pid
  const at: Record<'start' | 'end', { t: number; client: number; servers: number }> = {
    start: { t: 0, client: 0, servers: 0 },
    end: { t: 0, client: 0, servers: 0 },
  }
  proc.onWindow = (phase) => {
    at[phase] = { t: performance.now(), client: clientPid ? cpuOf([clientPid]) : 0, servers: cpuOf(serverPids) }
    onWindow?.(phase)
  }
  try {
    const figures = await proc.call<LoadFigures>('load', spec)
    const wall = (at.end.t - at.start.t) / 1000
    if (wall <= 0) return { figures, cpu: { client: 0, servers: 0 } }
    return { figures, cpu: { client: (at.end.client - at.start.client) / wall, servers: (at.end.servers - at.start.servers) / wall } }
  } finally {
    proc.onWindow = undefined
  }
}
