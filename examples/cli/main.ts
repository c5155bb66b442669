#!/usr/bin/env node
/**
 * `metastore-cli`: the command-line client of a metastore server, and its interactive shell.
 *
 *   metastore-cli [--endpoints http://127.0.0.1:12380,http://127.0.0.1:22380] [--json] <command> [args]
 *   metastore-cli                 (no command: the shell)
 *
 * See docs/cli.md. Exit codes: 0 ok, 1 error, 2 usage error, 130 interrupted.
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import type { Io } from './context.js'
import { defaultSettings, EXIT, execute, Session } from './run.js'
import { historyPath, runShell } from './shell.js'

async function main(argv: readonly string[]): Promise<number> {
  const io: Io = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, stderrIsTTY: process.stderr.isTTY === true }
  if (argv.includes('--version')) {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
    io.stdout.write(`${pkg.version}\n`)
    return EXIT.ok
  }
  let settings
  try {
    settings = defaultSettings(process.env)
  } catch (err) {
    io.stderr.write(`error: METASTORE_ENDPOINTS: ${(err as Error).message}\n`)
    return EXIT.usage
  }
  const controller = new AbortController()
  const onSigint = (): void => {
    // A second Ctrl-C leaves at once, whatever the command is waiting for.
    if (controller.signal.aborted) process.exit(EXIT.interrupted)
    controller.abort()
  }
  process.on('SIGINT', onSigint)
  let result
  try {
    result = await execute(argv, new Session(io, settings, false), controller.signal)
  } finally {
    process.off('SIGINT', onSigint)
  }
  if (typeof result === 'number') return result
  // No command: the shell, with the global flags given as its defaults.
  const terminal = process.stdin.isTTY === true && process.stdout.isTTY === true
  return runShell(new Session(io, result.shell, true), { historyFile: historyPath(process.env), terminal })
}

process.exitCode = await main(process.argv.slice(2))
