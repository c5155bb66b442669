/**
 * The interactive shell: the same commands, one per line, with line editing, completion of
 * command names and a history file (`$METASTORE_HISTORY`, else `~/.metastore_history`). Ctrl-C
 * stops the running command (a watch, a keepalive) or clears the line; Ctrl-D or `exit` leaves.
 * Fed from a pipe, it runs the lines as a script (no prompt) and exits with the worst exit code
 * of its lines (0, 1 or 2), unless `exit <code>` sets it.
 *
 * @module
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { createInterface, type Interface } from 'node:readline'
import { splitWords, UsageError } from './args.js'
import { COMMANDS } from './commands.js'
import { writeLines } from './context.js'
import { execute, type Session } from './run.js'

/** Lines kept in the history file. */
export const HISTORY_SIZE = 1000

/** Where the history lives: `$METASTORE_HISTORY`, else `~/.metastore_history` (`$HOME` first). */
export function historyPath(env: NodeJS.ProcessEnv): string {
  if (env.METASTORE_HISTORY !== undefined && env.METASTORE_HISTORY !== '') return env.METASTORE_HISTORY
  return join(env.HOME !== undefined && env.HOME !== '' ? env.HOME : homedir(), '.metastore_history')
}

/** The history, oldest first; a missing or unreadable file is an empty history. */
export function loadHistory(path: string): string[] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    return []
  }
  const lines = text.split('\n').filter((l) => l.trim() !== '')
  if (lines.length > 2 * HISTORY_SIZE) {
    // Trim the file now and then rather than rewriting it on every line.
    const kept = lines.slice(-HISTORY_SIZE)
    try {
      writeFileSync(path, `${kept.join('\n')}\n`, { mode: 0o600 })
    } catch {
      // A read-only history is still a history.
    }
    return kept
  }
  return lines.slice(-HISTORY_SIZE)
}

function remember(path: string, line: string, warn: (text: string) => void): boolean {
  try {
    appendFileSync(path, `${line}\n`, { mode: 0o600 })
    return true
  } catch (err) {
    warn(`history: cannot write ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); history is off`)
    return false
  }
}

const NAMES = [...COMMANDS.flatMap((c) => [c.name, ...(c.aliases ?? [])]), 'help', 'exit', 'quit'].sort()

function complete(line: string): [string[], string] {
  if (/\s/.test(line.trimStart())) return [[], line]
  const word = line.trimStart()
  const hits = NAMES.filter((n) => n.startsWith(word))
  return [hits.length > 0 ? hits : NAMES, word]
}

/** Runs the shell until `exit` or the end of input; resolves with the exit code. */
export async function runShell(session: Session, options: { historyFile: string; terminal: boolean }): Promise<number> {
  const { io } = session
  const history = loadHistory(options.historyFile)
  const rl: Interface = createInterface({
    input: io.stdin,
    output: io.stdout,
    terminal: options.terminal,
    prompt: 'metastore> ',
    history: [...history].reverse(),
    historySize: HISTORY_SIZE,
    removeHistoryDuplicates: true,
    completer: complete,
  })
  let running: AbortController | undefined
  let writeHistory = true
  const interrupt = (): void => {
    if (running !== undefined) {
      running.abort()
      return
    }
    if (options.terminal) {
      io.stdout.write('^C\n')
      rl.write(null, { ctrl: true, name: 'e' })
      rl.write(null, { ctrl: true, name: 'u' })
      rl.prompt()
    } else {
      rl.close()
    }
  }
  rl.on('SIGINT', interrupt)
  process.on('SIGINT', interrupt)
  if (options.terminal) {
    writeLines(io.stdout, [`metastore-cli: ${session.defaults.endpoints.join(', ')}. Type 'help' for the commands, 'exit' to leave.`])
    rl.prompt()
  }
  let exitCode: number | undefined
  // From a pipe, the worst exit code of the lines, unless `exit <code>` says otherwise.
  let worst = 0
  try {
    for await (const raw of rl) {
      const line = raw.trim()
      if (line === '' || line.startsWith('#')) {
        if (options.terminal) rl.prompt()
        continue
      }
      if (writeHistory) writeHistory = remember(options.historyFile, line, (t) => writeLines(io.stderr, [t]))
      let words: string[]
      try {
        words = splitWords(line)
      } catch (err) {
        if (!(err instanceof UsageError)) throw err
        writeLines(io.stderr, [`error: ${err.message}`])
        if (options.terminal) rl.prompt()
        continue
      }
      if (words[0] === 'exit' || words[0] === 'quit') {
        if (words[1] !== undefined) {
          const code = Number(words[1])
          exitCode = Number.isInteger(code) && code >= 0 && code < 256 ? code : 2
        }
        break
      }
      running = new AbortController()
      const result = await execute(words, session, running.signal)
      running = undefined
      if (!options.terminal && typeof result === 'number') worst = Math.max(worst, result === 130 ? 1 : result)
      if (typeof result === 'object') writeLines(io.stderr, ["error: that line names no command (type 'help')"])
      if (options.terminal) rl.prompt()
    }
  } finally {
    process.off('SIGINT', interrupt)
    rl.close()
  }
  if (options.terminal) writeLines(io.stdout, [''])
  return exitCode ?? worst
}
