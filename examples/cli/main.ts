#!/usr/bin/env node
/**
 * `metastore-cli`: the command-line client. It needs the server (createNode and the HTTP API),
 * which is not part of this release yet; until then it explains itself and exits.
 */
const USAGE = `usage: metastore-cli [--endpoints <url,...>] <command> [args]

Commands (once the server is available): get, put, del, range, txn, watch,
lease, members, status, snapshot save, inspect <data dir>.

This release ships the Raft core and its simulator; the client is not
available yet.`

const args = process.argv.slice(2)
console.log(USAGE)
if (!args.includes('--help') && !args.includes('-h')) process.exitCode = 2
