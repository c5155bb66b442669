// Helpers of the CLI tests: the compiled `metastore-cli` run as a child process, with bounded
// waits, and every process it starts killed by the test's teardown.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { defaultSettings, execute, Session } from '../../examples/cli/run.js'

// The compiled CLI, found relative to this compiled test (so it works from any build folder).
export const CLI_MAIN = fileURLToPath(new URL('../../examples/cli/main.js', import.meta.url))

export interface CliResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export interface RunOptions {
  /** Written to the CLI's stdin, which is then closed (default: nothing, closed at once). */
  readonly input?: string
  readonly env?: Readonly<Record<string, string>>
  /** Bound on the whole run; the child is killed past it. Default 30 s. */
  readonly timeoutMs?: number
}

/** A temp directory, removed by `remove()`; also the HOME of the CLI children (history file). */
export function tempDir(label: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `metastore-cli-${label}-`))
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) }
}

/** The environment of a CLI child: no endpoints or history from the developer's shell. */
function childEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  delete env.METASTORE_ENDPOINTS
  delete env.METASTORE_HISTORY
  env.HOME = tmpdir()
  return { ...env, ...extra }
}

/** Runs `metastore-cli <args>` to completion. */
export function runCli(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], { env: childEnv(options.env), stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000)
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
    child.stdin.on('error', () => {})
    child.stdin.end(options.input ?? '')
  })
}

/**
 * Runs one command line in this process, through the same `execute()` the binary calls (no
 * process start: most checks of output and exit codes run this way; the binary itself is
 * exercised by the tests that spawn it).
 */
export async function runInProcess(args: readonly string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
  stderr.setEncoding('utf8').on('data', (d: string) => (err += d))
  const io = { stdin: Readable.from(options.input === undefined ? [] : [Buffer.from(options.input)]), stdout, stderr, stderrIsTTY: false }
  const session = new Session(io, defaultSettings(options.env ?? {}), false)
  const result = await execute(args, session, new AbortController().signal)
  await new Promise((r) => setImmediate(r))
  if (typeof result !== 'number') throw new Error(`no command in ${args.join(' ')}`)
  return { code: result, signal: null, stdout: out, stderr: err }
}

/** A CLI child that keeps running (watch, keepalive): read its output, then stop it. */
export class LiveCli {
  readonly child: ChildProcess
  stdout = ''
  stderr = ''
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>

  constructor(args: readonly string[], env?: Readonly<Record<string, string>>) {
    this.child = spawn(process.execPath, [CLI_MAIN, ...args], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.stdout += d))
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d))
    this.exited = new Promise((resolve) => this.child.once('close', (code, signal) => resolve({ code, signal })))
  }

  /** Waits until stdout matches `pattern`; fails after `timeoutMs` (or when the child exits first). */
  async waitForOutput(pattern: RegExp, timeoutMs = 20_000): Promise<string> {
    const deadline = Date.now() + timeoutMs
    while (!pattern.test(this.stdout)) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`the CLI exited (${this.child.exitCode ?? this.child.signalCode}) before printing ${pattern}; stdout: ${this.stdout} stderr: ${this.stderr}`)
      }
      if (Date.now() > deadline) throw new Error(`no ${pattern} within ${timeoutMs} ms; stdout: ${this.stdout} stderr: ${this.stderr}`)
      await new Promise((r) => setTimeout(r, 25))
    }
    return this.stdout
  }

  /** Stops the child (SIGINT, as Ctrl-C; SIGKILL if it lingers) and waits for it. */
  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGINT')
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000)
      const result = await this.exited
      clearTimeout(timer)
      return result
    }
    return this.exited
  }
}

/** Parses one JSON line of a `--json` run, failing with the run's output when it is not JSON. */
export function parseJson(result: CliResult): any {
  try {
    return JSON.parse(result.stdout)
  } catch {
    throw new Error(`not JSON: stdout ${JSON.stringify(result.stdout)} stderr ${JSON.stringify(result.stderr)}`)
  }
}
