/**
 * Runs one command line (from the process arguments or a shell line): finds the command, parses
 * its flags, runs it, and turns what went wrong into a message on stderr and an exit code
 * (1 for errors, 2 for usage errors, 130 when interrupted).
 *
 * @module
 */
import { Api } from './api.js'
import { parseArgs, UsageError } from './args.js'
import { ApiError, Client, parseEndpoints } from './client.js'
import { commandHelp, DEFAULT_ENDPOINT, findCommand, generalHelp, GLOBAL_FLAGS } from './commands.js'
import { writeLines, type Context, type Io } from './context.js'

/** Settings a line may override with global flags. */
export interface Settings {
  readonly endpoints: readonly string[]
  readonly json: boolean
  readonly timeoutMs: number
  readonly dialTimeoutMs: number
}

/** Exit codes. */
export const EXIT = { ok: 0, error: 1, usage: 2, interrupted: 130 } as const

/** The default settings, from the environment (`METASTORE_ENDPOINTS`). */
export function defaultSettings(env: NodeJS.ProcessEnv): Settings {
  const endpoints = env.METASTORE_ENDPOINTS !== undefined && env.METASTORE_ENDPOINTS.trim() !== '' ? env.METASTORE_ENDPOINTS : DEFAULT_ENDPOINT
  return { endpoints: parseEndpoints(endpoints), json: false, timeoutMs: 15_000, dialTimeoutMs: 2000 }
}

/** State shared by the lines of one session (the process, or the shell). */
export class Session {
  readonly io: Io
  readonly defaults: Settings
  readonly interactive: boolean
  /** One client per endpoint list, so a shell keeps using the endpoint that answered. */
  readonly #clients = new Map<string, Client>()

  constructor(io: Io, defaults: Settings, interactive: boolean) {
    this.io = io
    this.defaults = defaults
    this.interactive = interactive
  }

  client(settings: Settings): Client {
    const key = `${settings.endpoints.join(',')}|${settings.timeoutMs}|${settings.dialTimeoutMs}`
    let client = this.#clients.get(key)
    if (client === undefined) {
      client = new Client({ endpoints: settings.endpoints, timeoutMs: settings.timeoutMs, dialTimeoutMs: settings.dialTimeoutMs })
      this.#clients.set(key, client)
    }
    return client
  }
}

const VALUE_FLAGS = new Set(
  Object.entries(GLOBAL_FLAGS).flatMap(([name, spec]) => (spec.kind === 'boolean' ? [] : [`--${name}`, ...('short' in spec ? [`-${spec.short}`] : [])])),
)

/** The index of the command word: the first word that is neither a flag nor a global flag's value. */
export function commandIndex(words: readonly string[]): number {
  for (let i = 0; i < words.length; i++) {
    const w = words[i]
    if (w === '--') return i + 1 < words.length ? i + 1 : -1
    if (!w.startsWith('-') || w === '-') return i
    if (VALUE_FLAGS.has(w)) i++
  }
  return -1
}

function settingsFrom(flags: Record<string, unknown>, defaults: Settings): Settings {
  let json = defaults.json
  const writeOut = flags['write-out']
  if (writeOut !== undefined) {
    if (writeOut === 'json') json = true
    else if (writeOut === 'simple' || writeOut === 'table') json = false
    else throw new UsageError(`-w must be json, simple or table, got '${String(writeOut)}'`)
  }
  if (flags.json === true) json = true
  let endpoints = defaults.endpoints
  if (typeof flags.endpoints === 'string') {
    try {
      endpoints = parseEndpoints(flags.endpoints)
    } catch (err) {
      throw new UsageError(`--endpoints: ${(err as Error).message}`)
    }
  }
  const positiveMs = (name: string, fallback: number): number => {
    const v = flags[name]
    if (v === undefined) return fallback
    if (typeof v !== 'number' || v < 1) throw new UsageError(`--${name} must be a positive number of milliseconds`)
    return v
  }
  return { endpoints, json, timeoutMs: positiveMs('timeout', defaults.timeoutMs), dialTimeoutMs: positiveMs('dial-timeout', defaults.dialTimeoutMs) }
}

/** What {@link execute} answers for words that name no command: open the shell with these settings. */
export interface NoCommand {
  readonly shell: Settings
}

/**
 * Runs the command in `words`. Returns the exit code, or {@link NoCommand} when the words name no
 * command (and ask for no help): the caller opens the shell.
 */
export async function execute(words: readonly string[], session: Session, signal: AbortSignal): Promise<number | NoCommand> {
  const { io } = session
  let json = session.defaults.json
  let usage: string | undefined
  try {
    const at = commandIndex(words)
    const rest = at === -1 ? [...words] : [...words.slice(0, at), ...words.slice(at + 1)]
    const name = at === -1 ? undefined : words[at]
    const command = name === undefined || name === 'help' ? undefined : findCommand(name)
    if (name !== undefined && name !== 'help' && command === undefined) {
      throw new UsageError(`unknown command '${name}'${session.interactive ? " (type 'help')" : " (run 'metastore-cli help')"}`)
    }
    if (command !== undefined) usage = command.usage.join('\n       ')
    const args = parseArgs(rest, { ...GLOBAL_FLAGS, ...(command?.flags ?? {}) })
    const settings = settingsFrom(args.flags, session.defaults)
    json = settings.json
    if (name === 'help' || args.flags.help === true) {
      const target = name === 'help' ? args.positionals[0] : undefined
      const topic = command ?? (target !== undefined ? findCommand(target) : undefined)
      if (target !== undefined && topic === undefined) throw new UsageError(`unknown command '${target}'`)
      writeLines(io.stdout, [topic !== undefined ? commandHelp(topic) : generalHelp(session.interactive)])
      return EXIT.ok
    }
    if (command === undefined) return { shell: settings }
    const ctx = makeContext(session, settings, signal)
    await command.run(ctx, args)
    return EXIT.ok
  } catch (err) {
    if (signal.aborted) {
      report(io, json, 'INTERRUPTED', 'interrupted')
      return EXIT.interrupted
    }
    if (err instanceof UsageError) {
      report(io, json, 'USAGE', err.message)
      if (usage !== undefined && !json) writeLines(io.stderr, [`usage: ${usage}`])
      return EXIT.usage
    }
    const e = err as Error & { code?: unknown }
    const code = typeof e.code === 'string' ? e.code : 'ERROR'
    report(io, json, code, e.message, err instanceof ApiError ? err.details : undefined)
    return EXIT.error
  }
}

function report(io: Io, json: boolean, code: string, message: string, details?: Readonly<Record<string, unknown>>): void {
  if (json) {
    writeLines(io.stderr, [JSON.stringify({ error: { code, message, ...details } })])
    return
  }
  const hints: string[] = []
  if (code === 'LOCKED') hints.push('(a node holds this database: stop it before inspecting)')
  if (details !== undefined && typeof details.leader === 'number' && details.leader > 0) hints.push(`(the leader is member ${details.leader})`)
  if (details !== undefined && typeof details.compactRevision === 'number' && !message.includes(String(details.compactRevision))) hints.push(`(compact revision ${details.compactRevision})`)
  const tag = code === 'USAGE' || code === 'ERROR' ? '' : ` [${code}]`
  writeLines(io.stderr, [`error: ${message}${hints.length > 0 ? ` ${hints.join(' ')}` : ''}${tag}`])
}

function makeContext(session: Session, settings: Settings, signal: AbortSignal): Context {
  const { io } = session
  let api: Api | undefined
  return {
    io,
    json: settings.json,
    interactive: session.interactive,
    signal,
    client: () => session.client(settings),
    api: () => (api ??= new Api(session.client(settings))),
    print: (...lines) => writeLines(io.stdout, lines),
    printJson: (value) => writeLines(io.stdout, [JSON.stringify(value)]),
    note: (line) => writeLines(io.stderr, [line]),
  }
}
