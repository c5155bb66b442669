/**
 * The flags of the `metastore` command, in raftexample's form
 * (`--id 1 --cluster http://127.0.0.1:12379,... --port 12380`), parsed into {@link ServerOptions}.
 * Nothing here does I/O except reading the TLS files named by the flags.
 */
import { readFileSync } from 'node:fs'
import type { LogLevel } from './log.js'
import { deriveClusterId, type ServerOptions, type StorageEngine } from './options.js'
import { canonicalPeerUrl, parsePeerUrl as checkPeerUrl } from './peer-url.js'

/** A flag the command does not know, a missing value, or a value out of range: exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

export const USAGE = `usage: metastore --id <n> --cluster <peer url,...> --port <client port> [options]

Runs one member of a metastore cluster: a replicated, strongly consistent key-value
store. Node i of the cluster is the i-th peer URL of --cluster.

  --id <n>                 this node's id (a positive integer: its place in --cluster)
  --cluster <url,...>      the peer URLs of the members, comma separated; node i is the
                           i-th. http:// or https:// peers use the HTTP transport,
                           tcp:// or tls:// peers the TCP transport
  --port <n>               the client API port (default 12380)
  --host <addr>            the client API bind address (default 127.0.0.1)
  --join                   join a running cluster (add the node first: POST /<id> with
                           its peer URL, or POST /v1/members) instead of starting one
  --data <dir>             where the node keeps its data (default ./data/<id>)
  --storage <engine>       leveldb (default), rocksdb (needs rocksdb-native) or memory
  --cluster-id <name>      refuse peers of other clusters (default: derived from the
                           first peer URL of --cluster)
  --secret <secret>        a shared secret peers must present (or env METASTORE_SECRET)
  --tls-key <file>         TLS private key (PEM) for the peer and client listeners
  --tls-cert <file>        TLS certificate (PEM)
  --tls-ca <file>          CA certificate (PEM) peers are verified against
  --tick-ms <ms>           milliseconds per Raft tick (default 100)
  --election-tick <n>      ticks without a leader before an election (default 10)
  --snapshot-every <n>     applied entries between snapshots (default 10000)
  --request-timeout-ms <ms>  how long a request may wait for a majority before
                           it is answered 503 (default 5000)
  --max-request-bytes <n>  the largest request body accepted (default 2 MiB)
  --restore <file>         start a new single-node cluster from a /v1/snapshot backup
                           (the data directory must be empty)
  --log-level <level>      error, warn, info (default) or debug; logs go to stderr
  --help                   print this help and exit
  --version                print the version and exit

Client API (see docs/http-api.md):
  PUT /<key> (body: value)   GET /<key>   POST /<id> (body: peer URL)   DELETE /<id>
  /v1/kv/<key>  /v1/txn  /v1/lease/*  /v1/watch  /v1/members  /v1/status
  /v1/snapshot  /health  /metrics

Example (a 3-node cluster on one machine; start each line in its own terminal):
  metastore --id 1 --cluster http://127.0.0.1:12379,http://127.0.0.1:22379,http://127.0.0.1:32379 --port 12380
  metastore --id 2 --cluster http://127.0.0.1:12379,http://127.0.0.1:22379,http://127.0.0.1:32379 --port 22380
  metastore --id 3 --cluster http://127.0.0.1:12379,http://127.0.0.1:22379,http://127.0.0.1:32379 --port 32380
  curl -L http://127.0.0.1:12380/my-key -XPUT -d bar && curl -L http://127.0.0.1:12380/my-key`

/** What the command line asks for. */
export type ParsedArgs = { readonly kind: 'help' } | { readonly kind: 'version' } | { readonly kind: 'run'; readonly options: ServerOptions }

const VALUE_FLAGS = new Set([
  'id',
  'cluster',
  'port',
  'host',
  'data',
  'storage',
  'cluster-id',
  'secret',
  'tls-key',
  'tls-cert',
  'tls-ca',
  'tick-ms',
  'election-tick',
  'snapshot-every',
  'request-timeout-ms',
  'max-request-bytes',
  'restore',
  'log-level',
])
const BOOLEAN_FLAGS = new Set(['join', 'help', 'version'])
const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug']
const ENGINES: readonly StorageEngine[] = ['leveldb', 'rocksdb', 'memory']

/** Splits `--flag value`, `--flag=value` and boolean `--flag` (or with one dash) into a map; refuses anything else. */
function tokenize(argv: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>()
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '-h') {
      flags.set('help', 'true')
      continue
    }
    // `-id 1` as `--id 1`: raftexample's flags are Go's, which take one dash or two.
    const arg = /^-[a-z]/.test(argv[i]) ? `-${argv[i]}` : argv[i]
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`)
    const eq = arg.indexOf('=')
    const name = arg.slice(2, eq < 0 ? undefined : eq)
    if (BOOLEAN_FLAGS.has(name)) {
      const v = eq < 0 ? 'true' : arg.slice(eq + 1)
      if (v !== 'true' && v !== 'false') throw new UsageError(`--${name} takes no value (or =true / =false)`)
      flags.set(name, v)
      continue
    }
    if (!VALUE_FLAGS.has(name)) throw new UsageError(`unknown flag --${name}`)
    let value: string | undefined
    if (eq >= 0) value = arg.slice(eq + 1)
    else {
      value = argv[i + 1]
      if (value === undefined || value.startsWith('--')) throw new UsageError(`--${name} needs a value`)
      i++
    }
    if (flags.has(name)) throw new UsageError(`--${name} is given twice`)
    flags.set(name, value)
  }
  return flags
}

function integer(flags: Map<string, string>, name: string, min: number, max: number): number | undefined {
  const raw = flags.get(name)
  if (raw === undefined) return undefined
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max} (got ${JSON.stringify(raw)})`)
  return n
}

function readFile(flags: Map<string, string>, name: string): Buffer | undefined {
  const path = flags.get(name)
  if (path === undefined) return undefined
  try {
    return readFileSync(path)
  } catch (err) {
    throw new UsageError(`--${name}: cannot read ${path}: ${(err as Error).message}`)
  }
}

/**
 * Parses the command line (without `node` and the script). Throws {@link UsageError} for anything
 * the command cannot run with.
 *
 * @example
 * ```ts
 * const parsed = parseArgs(['--id', '1', '--cluster', 'http://127.0.0.1:12379', '--port', '12380'], process.env)
 * ```
 */
export function parseArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): ParsedArgs {
  const flags = tokenize(argv)
  if (flags.get('help') === 'true') return { kind: 'help' }
  if (flags.get('version') === 'true') return { kind: 'version' }

  const id = integer(flags, 'id', 1, Number.MAX_SAFE_INTEGER)
  if (id === undefined) throw new UsageError('--id is required')
  const clusterRaw = flags.get('cluster')
  if (clusterRaw === undefined) throw new UsageError('--cluster is required (the peer URLs of the members)')
  const rawUrls = clusterRaw.split(',').map((s) => s.trim()).filter((s) => s !== '')
  if (rawUrls.length === 0) throw new UsageError('--cluster lists no peer URL')
  const urls = rawUrls.map((raw) => {
    try {
      return checkPeerUrl(raw)
    } catch (err) {
      throw new UsageError(`--cluster: ${(err as Error).message}`)
    }
  })
  const peerUrls = urls.map(canonicalPeerUrl)
  const seen = new Set<string>()
  for (const u of urls) {
    if (seen.has(u.host)) throw new UsageError(`--cluster lists ${u.host} twice`)
    seen.add(u.host)
  }
  if (id > peerUrls.length) throw new UsageError(`--id ${id} has no peer URL: --cluster lists ${peerUrls.length}`)
  if (urls.some((u) => u.protocol !== urls[0].protocol)) throw new UsageError('--cluster mixes schemes; every peer URL uses the same one')

  const join = flags.get('join') === 'true'
  const storage = (flags.get('storage') ?? 'leveldb') as StorageEngine
  if (!ENGINES.includes(storage)) throw new UsageError(`--storage must be one of ${ENGINES.join(', ')}`)
  const logLevel = (flags.get('log-level') ?? 'info') as LogLevel
  if (!LOG_LEVELS.includes(logLevel)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`)

  const tlsKey = readFile(flags, 'tls-key')
  const tlsCert = readFile(flags, 'tls-cert')
  const tlsCa = readFile(flags, 'tls-ca')
  if ((tlsKey === undefined) !== (tlsCert === undefined)) throw new UsageError('--tls-key and --tls-cert go together')
  const secureScheme = urls[0].protocol === 'https:' || urls[0].protocol === 'tls:'
  if (secureScheme && tlsKey === undefined) throw new UsageError(`${urls[0].protocol}// peers need --tls-key and --tls-cert`)
  if (!secureScheme && tlsKey !== undefined) throw new UsageError('--tls-key is given but the peer URLs are not https:// or tls://')

  const secret = flags.get('secret') ?? env.METASTORE_SECRET
  if (secret !== undefined && secret.length === 0) throw new UsageError('--secret is empty')
  const restore = flags.get('restore')
  if (restore !== undefined && join) throw new UsageError('--restore starts a new cluster; it cannot --join')

  const options: ServerOptions = {
    id,
    peerUrls,
    port: integer(flags, 'port', 0, 65535) ?? 12380,
    host: flags.get('host') ?? '127.0.0.1',
    join,
    dataDir: flags.get('data') ?? `./data/${id}`,
    storage,
    clusterId: flags.get('cluster-id') ?? deriveClusterId(peerUrls),
    ...(secret !== undefined ? { secret } : {}),
    ...(tlsKey !== undefined && tlsCert !== undefined ? { tls: { key: tlsKey, cert: tlsCert, ...(tlsCa ? { ca: tlsCa } : {}) } } : {}),
    tickMs: integer(flags, 'tick-ms', 1, 60_000),
    electionTick: integer(flags, 'election-tick', 2, 10_000),
    snapshotEvery: integer(flags, 'snapshot-every', 1, Number.MAX_SAFE_INTEGER),
    requestTimeoutMs: integer(flags, 'request-timeout-ms', 1, 600_000),
    maxRequestBytes: integer(flags, 'max-request-bytes', 1024, 1024 * 1024 * 1024),
    ...(restore !== undefined ? { restoreFrom: restore } : {}),
    logLevel,
  }
  return { kind: 'run', options }
}
