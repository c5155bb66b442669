#!/usr/bin/env node
/**
 * `metastore`: runs one member of a cluster with its client API.
 *
 * ```sh
 * metastore --id 1 --cluster http://127.0.0.1:12379,http://127.0.0.1:22379,http://127.0.0.1:32379 --port 12380
 * ```
 *
 * Exit codes: 0 after Ctrl-C / SIGTERM (the node closed cleanly), 1 when the node cannot start or
 * stops on an error, 2 for a bad command line.
 */
import { readFileSync } from 'node:fs'
import { parseArgs, USAGE, UsageError } from './args.js'
import { startServer } from './server.js'

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

let ran = false

// The log goes to stderr; if whoever reads it goes away (a launcher killed, a closed pipe), the
// node keeps serving without its log rather than die of EPIPE on its next line.
process.stderr.on('error', () => {})
process.stdout.on('error', () => {})

async function main(): Promise<number> {
  let parsed
  try {
    parsed = parseArgs(process.argv.slice(2), process.env)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`metastore: ${err.message}\nRun metastore --help for the flags.\n`)
    return 2
  }
  if (parsed.kind === 'help') {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  if (parsed.kind === 'version') {
    process.stdout.write(version() + '\n')
    return 0
  }
  const { options } = parsed
  let server
  try {
    server = await startServer(options)
  } catch (err) {
    const e = err as Error & { code?: string }
    process.stderr.write(`metastore: node ${options.id} could not start: ${e.code ? `${e.code}: ` : ''}${e.message}\n`)
    return 1
  }
  const running = server
  ran = true
  return new Promise<number>((resolve) => {
    let stopping = false
    const stop = (signal: string): void => {
      if (stopping) {
        // A second Ctrl-C: the operator does not want to wait.
        process.stderr.write(`metastore: ${signal} again, exiting now\n`)
        process.exit(1)
      }
      stopping = true
      running.close().then(
        () => resolve(0),
        (err: unknown) => {
          process.stderr.write(`metastore: closing failed: ${(err as Error).message}\n`)
          resolve(1)
        },
      )
    }
    process.on('SIGINT', () => stop('SIGINT'))
    process.on('SIGTERM', () => stop('SIGTERM'))
    running.node.raft.on('error', () => {
      if (stopping) return
      stopping = true
      void running.close().finally(() => resolve(1))
    })
  })
}

main().then(
  (code) => {
    process.exitCode = code
    // Once a node ran, exit even if a library left a handle behind: the node is closed.
    if (ran) process.exit(code)
  },
  (err: unknown) => {
    process.stderr.write(`metastore: ${(err as Error).stack ?? String(err)}\n`)
    process.exitCode = 1
  },
)
