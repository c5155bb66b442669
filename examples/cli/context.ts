/**
 * What every command runs with: the API, where to print, how (people or `--json`), and the
 * signal that Ctrl-C raises.
 *
 * @module
 */
import type { Readable, Writable } from 'node:stream'
import type { Api } from './api.js'
import type { FlagSpecs, ParsedArgs } from './args.js'
import type { Client } from './client.js'

/** The streams a command reads and writes. */
export interface Io {
  readonly stdin: Readable
  readonly stdout: Writable
  readonly stderr: Writable
  /** Whether stderr is a terminal (progress is shown only then). */
  readonly stderrIsTTY: boolean
}

/** The context of one command. */
export interface Context {
  readonly io: Io
  /** Print JSON for scripts instead of text for people. */
  readonly json: boolean
  /** Running inside the interactive shell (standard input is the shell's). */
  readonly interactive: boolean
  /** Aborted by Ctrl-C: long commands (watch, keepalive, snapshot) stop on it. */
  readonly signal: AbortSignal
  /** The API client; created on first use (commands such as `inspect` need no server). */
  api(): Api
  client(): Client
  /** Prints lines on stdout. */
  print(...lines: string[]): void
  /** Prints one JSON value on one line of stdout. */
  printJson(value: unknown): void
  /** Prints a line on stderr (notes and progress that are not the command's output). */
  note(line: string): void
}

/** One command of the CLI and the shell. */
export interface Command {
  readonly name: string
  readonly aliases?: readonly string[]
  /** One usage line per form (`lease grant <ttl>`...). */
  readonly usage: readonly string[]
  readonly summary: string
  readonly flags: FlagSpecs
  run(ctx: Context, args: ParsedArgs): Promise<void>
}

/** Writes `lines` to `stream`, one per line. */
export function writeLines(stream: Writable, lines: readonly string[]): void {
  if (lines.length === 0) return
  stream.write(`${lines.join('\n')}\n`)
}

/** A command's failure that is not the server's (a missing key, an expired lease): exit code 1. */
export class CommandError extends Error {
  readonly code: string
  constructor(code: string, message: string) {
    super(message)
    this.name = 'CommandError'
    this.code = code
  }
}
