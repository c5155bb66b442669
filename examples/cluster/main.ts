#!/usr/bin/env node
/**
 * `npm start`: a 3-node metastore cluster on this machine, each node a `metastore` process
 * (`examples/server/main.js`) with its LevelDB data under ./data/<id>, on the classic ports:
 * clients on 12380, 22380, 32380; peers on 12379, 22379, 32379. It waits until every node is
 * healthy, prints the endpoints and a curl line to try, and stops all of them on Ctrl-C or
 * SIGTERM. A node that dies is reported; the others keep serving (two of three are a majority).
 *
 * Flags (all optional): --client-ports a,b,c  --peer-ports a,b,c  --host <addr>  --data <dir>
 * --storage leveldb|rocksdb|memory  --tick-ms <ms>  --election-tick <n>.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'

const SERVER_MAIN = fileURLToPath(new URL('../server/main.js', import.meta.url))
const HEALTH_TIMEOUT_MS = 60_000
const STOP_TIMEOUT_MS = 10_000

const USAGE = `usage: node build/examples/cluster/main.js [--client-ports 12380,22380,32380] [--peer-ports 12379,22379,32379]
       [--host 127.0.0.1] [--data ./data] [--storage leveldb|rocksdb|memory] [--tick-ms <ms>] [--election-tick <n>]

Starts a local metastore cluster (one process per node) and stops it on Ctrl-C.`

interface LauncherOptions {
  clientPorts: number[]
  peerPorts: number[]
  host: string
  data: string
  storage: string
  passThrough: string[]
}

function fail(message: string): never {
  process.stderr.write(`cluster: ${message}\n${USAGE}\n`)
  process.exit(2)
}

function ports(raw: string, flag: string): number[] {
  const list = raw.split(',').map((s) => Number(s.trim()))
  if (list.length === 0 || list.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) fail(`${flag} takes ports (1-65535), comma separated`)
  return list
}

function parse(argv: readonly string[]): LauncherOptions {
  const o: LauncherOptions = { clientPorts: [12380, 22380, 32380], peerPorts: [12379, 22379, 32379], host: '127.0.0.1', data: './data', storage: 'leveldb', passThrough: [] }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]
    if (flag === '--help' || flag === '-h') {
      process.stdout.write(USAGE + '\n')
      process.exit(0)
    }
    const value = argv[++i]
    if (value === undefined) fail(`${flag} needs a value`)
    switch (flag) {
      case '--client-ports':
        o.clientPorts = ports(value, flag)
        break
      case '--peer-ports':
        o.peerPorts = ports(value, flag)
        break
      case '--host':
        o.host = value
        break
      case '--data':
        o.data = value
        break
      case '--storage':
        o.storage = value
        break
      case '--tick-ms':
      case '--election-tick':
        o.passThrough.push(flag, value)
        break
      default:
        fail(`unknown flag ${flag}`)
    }
  }
  if (o.clientPorts.length !== o.peerPorts.length) fail('--client-ports and --peer-ports list as many ports (one per node)')
  return o
}

interface Member {
  readonly id: number
  readonly clientUrl: string
  readonly child: ChildProcess
  exited: boolean
}

// A closed terminal or pipe must not crash the launcher (and orphan the nodes) on its next line.
process.stderr.on('error', () => {})
process.stdout.on('error', () => {})

const options = parse(process.argv.slice(2))
const host = options.host.includes(':') ? `[${options.host}]` : options.host
const cluster = options.peerPorts.map((p) => `http://${host}:${p}`).join(',')
let stopping = false

const members: Member[] = options.clientPorts.map((port, i) => {
  const id = i + 1
  const args = [SERVER_MAIN, '--id', String(id), '--cluster', cluster, '--port', String(port), '--host', options.host]
  args.push('--data', join(options.data, String(id)), '--storage', options.storage, ...options.passThrough)
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'pipe'] })
  const member: Member = { id, clientUrl: `http://${host}:${port}`, child, exited: false }
  // Each node's log lines, labelled with its id.
  createInterface({ input: child.stderr! }).on('line', (line) => process.stderr.write(`[node ${id}] ${line}\n`))
  child.on('exit', (code, signal) => {
    member.exited = true
    if (!stopping) {
      process.stderr.write(`cluster: node ${id} died (${signal ?? `exit code ${code}`}); the others keep serving while a majority is up\n`)
      if (members.every((m) => m.exited)) {
        process.stderr.write('cluster: every node is down\n')
        process.exit(1)
      }
    }
  })
  return member
})

async function healthy(m: Member): Promise<boolean> {
  try {
    const res = await fetch(`${m.clientUrl}/health`, { signal: AbortSignal.timeout(1000) })
    await res.arrayBuffer()
    return res.status === 200
  } catch {
    return false
  }
}

async function waitHealthy(): Promise<boolean> {
  const deadline = Date.now() + HEALTH_TIMEOUT_MS
  const pending = new Set(members)
  while (pending.size > 0 && Date.now() < deadline && !stopping) {
    for (const m of [...pending]) {
      if (m.exited) return false
      if (await healthy(m)) pending.delete(m)
    }
    if (pending.size > 0) await new Promise((r) => setTimeout(r, 100))
  }
  return pending.size === 0
}

async function stop(signal: string, failed = false): Promise<void> {
  if (stopping) return
  stopping = true
  process.stderr.write(`cluster: ${signal}: stopping ${members.filter((m) => !m.exited).length} nodes\n`)
  // Nodes that died earlier were reported then; the exit code says how the others stopped.
  const exits = members
    .filter((m) => !m.exited)
    .map(
      (m) =>
        new Promise<number | null>((resolve) => {
          m.child.once('exit', (code) => resolve(code))
          m.child.kill('SIGTERM')
        }),
    )
  const timer = setTimeout(() => {
    process.stderr.write('cluster: nodes still running after 10 s; killing them\n')
    for (const m of members) if (!m.exited) m.child.kill('SIGKILL')
  }, STOP_TIMEOUT_MS)
  const codes = await Promise.all(exits)
  clearTimeout(timer)
  const clean = codes.every((c) => c === 0)
  process.stderr.write(clean ? 'cluster: stopped\n' : `cluster: stopped (exit codes ${codes.join(', ')})\n`)
  process.exit(clean && !failed ? 0 : 1)
}

process.on('SIGINT', () => void stop('SIGINT'))
process.on('SIGTERM', () => void stop('SIGTERM'))

if (await waitHealthy()) {
  const lines = [`metastore: a ${members.length}-node cluster is up`]
  for (const m of members) lines.push(`  node ${m.id}: client ${m.clientUrl}  peer ${cluster.split(',')[m.id - 1]}  data ${join(options.data, String(m.id))}  pid ${m.child.pid}`)
  const other = members[1 % members.length]
  lines.push('Try:')
  lines.push(`  curl -L ${members[0].clientUrl}/my-key -XPUT -d hello`)
  lines.push(`  curl -L ${other.clientUrl}/my-key`)
  lines.push(`  curl -L ${members[0].clientUrl}/v1/status`)
  lines.push(`Ctrl-C stops all ${members.length} nodes.`)
  process.stdout.write(lines.join('\n') + '\n')
} else if (!stopping) {
  const dead = members.filter((m) => m.exited).map((m) => m.id)
  if (dead.length > 0) process.stderr.write(`cluster: node ${dead.join(', ')} exited during startup (a port in use? see its log above)\n`)
  else process.stderr.write(`cluster: the nodes did not all become healthy within ${HEALTH_TIMEOUT_MS / 1000} s (see their logs above)\n`)
  await stop('startup failed', true)
}
