/**
 * The test's side of one node program: spawns it (directly, or under a prefix such as
 * `ip netns exec NS`), sends control requests and matches their replies, keeps the tail of its
 * log for failure reports, and kills it.
 *
 * @module
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process'
import { createInterface } from 'node:readline'
import type { Readable, Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import type { NodeStatus } from '../../lib/node/create-node.js'
import type { ControlError, ControlOutput, GetResult, NodeProcessConfig, PutResult, ScanResult } from './protocol.js'

const PROGRAM = fileURLToPath(new URL('./node-process.js', import.meta.url))
/** Lines of a node's stderr kept for the failure report. */
const LOG_LINES = 300

/** A control request that failed: the node's error code, or EXITED / NO_REPLY from the harness. */
export class ControlRequestError extends Error {
  readonly code: string
  constructor(error: ControlError) {
    super(`${error.code}: ${error.message}`)
    this.name = 'ControlRequestError'
    this.code = error.code
  }
}

/** What `status` returns: the node's `status()` (the fields the tests read). */
export type StatusReply = Pick<NodeStatus, 'id' | 'role' | 'term' | 'leader' | 'commitIndex' | 'appliedIndex' | 'lastIndex'>

interface Pending {
  readonly resolve: (value: unknown) => void
  readonly reject: (err: Error) => void
  readonly timer: NodeJS.Timeout
}

/** One running node program. A new one is made for each (re)start. */
export class NodeHandle {
  readonly id: number
  readonly config: NodeProcessConfig
  readonly #child: ChildProcessByStdio<Writable, Readable, Readable>
  readonly #pending = new Map<number, Pending>()
  readonly #log: string[]
  #next = 0
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined
  readonly exited: Promise<void>
  readonly ready: Promise<void>

  /**
   * Starts the program. `prefix` runs it under another command (which must exec it in place, as
   * `ip netns exec` does, so that signals reach the node itself). `log` is shared across restarts.
   */
  constructor(config: NodeProcessConfig, options: { prefix?: readonly string[]; log: string[]; startTimeoutMs?: number }) {
    this.id = config.id
    this.config = config
    this.#log = options.log
    const argv = [...(options.prefix ?? []), process.execPath, PROGRAM, JSON.stringify(config)]
    this.#child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] })
    this.#note(`--- started pid ${this.#child.pid} ---`)
    // Writing to a node that died fails with EPIPE: its requests are failed through 'exit'.
    this.#child.stdin.on('error', () => {})
    createInterface({ input: this.#child.stderr }).on('line', (line) => this.#note(line))
    let markReady: () => void = () => {}
    let failReady: (err: Error) => void = () => {}
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve
      failReady = reject
    })
    // Nobody may wait for `ready` (a node killed while starting).
    this.ready.catch(() => {})
    const startTimer = setTimeout(() => failReady(new Error(`node ${this.id} did not start in ${options.startTimeoutMs ?? 30_000} ms`)), options.startTimeoutMs ?? 30_000)
    createInterface({ input: this.#child.stdout }).on('line', (line) => {
      let out: ControlOutput
      try {
        out = JSON.parse(line) as ControlOutput
      } catch {
        this.#note(`(stdout) ${line}`)
        return
      }
      if ('event' in out) {
        clearTimeout(startTimer)
        markReady()
        return
      }
      const p = this.#pending.get(out.n)
      if (!p) return
      this.#pending.delete(out.n)
      clearTimeout(p.timer)
      if (out.ok) p.resolve(out.result)
      else p.reject(new ControlRequestError(out.error))
    })
    this.exited = new Promise<void>((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (this.#exit) return
        this.#exit = { code, signal }
        this.#note(`--- exited (code ${code}, signal ${signal}) ---`)
        clearTimeout(startTimer)
        failReady(new Error(`node ${this.id} exited (code ${code}, signal ${signal}) before it was ready`))
        for (const [n, p] of this.#pending) {
          clearTimeout(p.timer)
          p.reject(new ControlRequestError({ code: 'EXITED', message: `node ${this.id} exited` }))
          this.#pending.delete(n)
        }
        resolve()
      }
      this.#child.once('exit', done)
      this.#child.once('error', (err) => {
        this.#note(`--- could not run: ${err.message} ---`)
        done(null, null)
      })
    })
  }

  get pid(): number | undefined {
    return this.#child.pid
  }

  /** Requests sent and not answered yet. */
  get inFlight(): number {
    return this.#pending.size
  }

  /** The process has exited. */
  get dead(): boolean {
    return this.#exit !== undefined
  }

  /**
   * Sends one request. It fails with the node's error code, with EXITED if the process dies first,
   * or with NO_REPLY after `timeoutMs` (a safety net: nodes answer within their request timeout).
   */
  request<T>(body: Record<string, unknown>, timeoutMs = 60_000): Promise<T> {
    if (this.#exit) return Promise.reject(new ControlRequestError({ code: 'EXITED', message: `node ${this.id} exited` }))
    const n = ++this.#next
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(n)
        reject(new ControlRequestError({ code: 'NO_REPLY', message: `node ${this.id} did not answer ${String(body.op)} in ${timeoutMs} ms` }))
      }, timeoutMs)
      this.#pending.set(n, { resolve: resolve as (v: unknown) => void, reject, timer })
      this.#child.stdin.write(`${JSON.stringify({ ...body, n })}\n`)
    })
  }

  put(key: string, value: string, timeoutMs?: number): Promise<PutResult> {
    return this.request({ op: 'put', key, value }, timeoutMs)
  }

  get(key: string, options: { serializable?: boolean; timeoutMs?: number } = {}): Promise<GetResult> {
    return this.request({ op: 'get', key, serializable: options.serializable === true }, options.timeoutMs)
  }

  /** Every key under `prefix` with its value and version. */
  scan(prefix: string, options: { serializable?: boolean; timeoutMs?: number } = {}): Promise<ScanResult> {
    return this.request({ op: 'scan', prefix, serializable: options.serializable === true }, options.timeoutMs)
  }

  status(timeoutMs = 10_000): Promise<StatusReply> {
    return this.request({ op: 'status' }, timeoutMs)
  }

  /** Sends a signal to the node (SIGKILL, SIGSTOP, SIGCONT). */
  signal(signal: NodeJS.Signals): void {
    if (this.#exit || this.#child.pid === undefined) return
    try {
      process.kill(this.#child.pid, signal)
    } catch {
      // It exited meanwhile.
    }
  }

  /** SIGKILL, and wait until the process is gone. */
  async kill(): Promise<void> {
    this.signal('SIGKILL')
    await this.exited
  }

  /** Asks the node to close cleanly; kills it if it has not exited within `timeoutMs`. */
  async close(timeoutMs = 10_000): Promise<void> {
    if (this.#exit) return
    this.#child.stdin.end()
    const timer = setTimeout(() => this.signal('SIGKILL'), timeoutMs)
    await this.exited
    clearTimeout(timer)
  }

  #note(line: string): void {
    this.#log.push(line)
    if (this.#log.length > LOG_LINES) this.#log.splice(0, this.#log.length - LOG_LINES)
    if (process.env.MULTIPROCESS_VERBOSE) process.stderr.write(`n${this.id}: ${line}\n`)
  }
}
