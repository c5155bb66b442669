#!/usr/bin/env node
/**
 * `metastore`: runs one node with an HTTP API. The replicated KV it serves (createNode) is not
 * part of this release yet; until it is, the command explains itself and exits.
 */
import { readFileSync } from 'node:fs'

const USAGE = `usage: metastore --id <n> --cluster <url,url,...> --port <client port> [options]

Runs one metastore node with the classic REST API (PUT /<key>, GET /<key>,
POST /<nodeId>, DELETE /<nodeId>).

This release ships the Raft core and its simulator; the server that serves
the replicated key-value store is not available yet.`

const args = process.argv.slice(2)
if (args.includes('--version')) {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
  console.log(pkg.version)
} else {
  console.log(USAGE)
  if (!args.includes('--help') && !args.includes('-h')) process.exitCode = 2
}
