/**
 * Child processes of a benchmark run: every one is registered here and killed when the run ends,
 * however it ends (normal exit, an exception, Ctrl-C, the overall timeout). Also free loopback
 * ports, bounded polling, and the CPU time of a process read from /proc.
 *
 * @module
 */
import { spawn, fork, type ChildProcess, type SpawnOptions, type ForkOptions } from 'node:child_process'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'

const children = new Set<ChildProcess>()
let hooked = false

function killAllNow(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      try {
        c.kill('SIGKILL')
      } catch {
        // already gone
      }
    }
  }
}

function hook(): void {
  if (hooked) return
  hooked = true
  process.on('exit', killAllNow)
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      killAllNow()
      process.exit(130)
    })
  }
}

function track(child: ChildProcess): ChildProcess {
  hook()
  children.add(child)
  child.on('exit', () => children.delete(child))
  return child
}

/** Spawns a program; it is killed when the run ends. */
export function spawnTracked(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  return track(spawn(command, args, options))
}

/** Forks a Node module with an IPC channel; it is killed when the run ends. */
export function forkTracked(module: string, args: readonly string[], options: ForkOptions = {}): ChildProcess {
  return track(fork(module, args, options))
}

/** SIGKILLs every child still running (the end of a scenario, or of the run). */
export function killAll(): void {
  killAllNow()
}

/** Resolves when the child has exited (at once if it already has). */
export function exited(child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
    }, timeoutMs)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** `count` distinct free ports. */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>()
  while (ports.size < count) ports.add(await freePort())
  return [...ports]
}

/**
 * Polls `check` until it returns something other than undefined (errors count as "not yet"),
 * for at most `timeoutMs`; then fails with `what` and the last error seen.
 */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

let ticksPerSecond: number | undefined

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      ticksPerSecond = 100
    }
  }
  return ticksPerSecond
}

/** User plus system CPU seconds a process has used so far (0 if it is gone or /proc is absent). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // Fields 14 (utime) and 15 (stime) of stat(5); fields[0] here is field 3.
    return (Number(fields[11]) + Number(fields[12])) / clockTicks()
  } catch {
    return 0
  }
}

/** Resident set size of a process in bytes, from /proc (0 if unknown). */
export function rssBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = /^VmRSS:\s+(\d+) kB/m.exec(status)
    return m ? Number(m[1]) * 1024 : 0
  } catch {
    return 0
  }
}

/** Sums {@link cpuSeconds} over processes. */
export function cpuOf(pids: readonly number[]): number {
  let total = 0
  for (const pid of pids) total += cpuSeconds(pid)
  return total
}
