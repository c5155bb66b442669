// A 3-node cluster on HttpTransport while one node takes 100,000 hostile requests: random bodies,
// mutated valid batches, handshakes and sessions, wrong and expired tokens, wrong paths and
// methods, truncated bodies, huge Content-Lengths and garbage that is not HTTP. The node must keep
// serving and the cluster must keep committing. FUZZ_SEED replays a run; FUZZ_REQUESTS scales it.
//
// The cluster and the fuzzer run in two child processes (this file, with METASTORE_FUZZ_ROLE set):
// the test runner's async hooks would cost more than the requests themselves, and two processes
// use both cores.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import http from 'node:http'
import net from 'node:net'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { createNode, type MetastoreNode } from '../../lib/node/create-node.js'
import { EntryType, makeMessage, MessageType, type Message, type NodeId } from '../../lib/raft/types.js'
import { SeededRng } from '../../lib/raft/rng.js'
import { memoryStorage } from '../../lib/storage/memory-engine.js'
import { newNonce, proof } from '../../transports/auth.js'
import { HttpTransport } from '../../transports/http.js'
import { packControl, snapshotHeader, unpackControl } from '../../transports/http-protocol.js'
import { encodeBatch, WIRE_VERSION } from '../../transports/wire.js'

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31))
const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 100_000)
const CLUSTER = 'fuzz'
const SECRET = 'fuzz secret'
/** The id the fuzzer holds a real session as: a peer node 1 knows, but not a member. */
const FUZZER: NodeId = 9
const CONCURRENCY = 48

const enc = new TextEncoder()

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

interface Answer {
  readonly status: number
  readonly body: Buffer
}

/** Requests through a keep-alive agent; errors (a closed connection) are answers too. */
function request(agent: http.Agent, port: number, method: string, path: string, headers: Record<string, string>, body: Uint8Array | undefined): Promise<Answer | Error> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent, timeout: 20_000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }))
      res.on('error', (err) => resolve(err))
    })
    req.on('timeout', () => req.destroy(new Error('no answer')))
    req.on('error', (err) => resolve(err))
    req.end(body)
  })
}

/**
 * Writes raw bytes on a fresh connection, then ends its side (a truncated request: the peer goes
 * away mid-request), and collects whatever comes back until the connection closes.
 */
function raw(port: number, bytes: Uint8Array): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    const socket = net.connect(port, '127.0.0.1')
    const timer = setTimeout(() => socket.destroy(), 2000)
    socket.on('data', (c) => chunks.push(c))
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(Buffer.concat(chunks).toString('latin1'))
    })
    socket.end(bytes)
  })
}

/** Byte-level mutations of a valid encoding. */
function mutate(rng: SeededRng, input: Uint8Array): Uint8Array {
  let b = Uint8Array.from(input)
  const interesting = [0x00, 0x01, 0x7f, 0x80, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc6, 0xca, 0xcb, 0xcf, 0xd3, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xff]
  const rounds = 1 + rng.int(3)
  for (let r = 0; r < rounds && b.length > 0; r++) {
    const at = rng.int(b.length)
    switch (rng.int(7)) {
      case 0:
        b[at] ^= 1 << rng.int(8)
        break
      case 1:
        b[at] = rng.int(256)
        break
      case 2:
        b[at] = interesting[rng.int(interesting.length)]
        break
      case 3:
        b = b.subarray(0, at)
        break
      case 4: {
        const extra = new Uint8Array(1 + rng.int(8)).map(() => rng.int(256))
        b = Uint8Array.from([...b.subarray(0, at), ...extra, ...b.subarray(at)])
        break
      }
      case 5: {
        const len = rng.int(Math.min(32, b.length - at) + 1)
        b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at, at + len), ...b.subarray(at)])
        break
      }
      default:
        b = b.subarray(at).length > 0 ? Uint8Array.from([...b.subarray(at), ...b.subarray(0, at)]) : b
    }
  }
  return b
}

function randomBytes(rng: SeededRng, max: number): Uint8Array {
  return new Uint8Array(rng.int(max + 1)).map(() => rng.int(256))
}

/**
 * Valid batches to mutate. They claim to be from node 2 and for node 5: a mutation would have to
 * change both ids to reach Raft on node 1 (the fuzzer's session is node 9's), so what the node
 * sees of them is the transport's answer only; every field of the encoding gets exercised.
 */
function seeds(): Uint8Array[] {
  const entry = (i: number) => ({ term: 3, index: i, type: i % 2 ? EntryType.Normal : EntryType.ConfChange, data: enc.encode(`value ${i}`) })
  const m = (type: MessageType, extra: Partial<Message> = {}): Message => makeMessage({ type, from: 2, to: 5, term: 3, logTerm: 2, index: 10, commit: 9, ...extra })
  return [
    encodeBatch([m(MessageType.App, { entries: [entry(11), entry(12)], context: enc.encode('ctx') })]),
    encodeBatch([m(MessageType.Heartbeat), m(MessageType.AppResp, { reject: true, rejectHint: 4 })]),
    encodeBatch([m(MessageType.Vote), m(MessageType.PreVoteResp), m(MessageType.ReadIndex, { context: enc.encode('r1') })]),
    encodeBatch([m(MessageType.Snap, { snapshot: { metadata: { index: 50, term: 3, confState: { voters: [1, 2, 3], learners: [4], votersOutgoing: [], learnersNext: [], autoLeave: false } }, data: enc.encode('snapshot data') } })]),
    encodeBatch([]),
  ]
}

/** A snapshot request body as the transport sends it (for node 5: it never reaches Raft on node 1). */
function snapshotBody(): Uint8Array {
  const m = makeMessage({ type: MessageType.Snap, from: 2, to: 5, term: 3, snapshot: { metadata: { index: 50, term: 3, confState: { voters: [1, 2, 3], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } }, data: new Uint8Array(0) } })
  const batch = encodeBatch([m])
  return Uint8Array.from([...snapshotHeader(batch.byteLength), ...batch, ...enc.encode('the data of a snapshot')])
}

/** Opens a real session on node 1 as node 9, with the secret (the fuzzer is a known peer). */
async function openSession(agent: http.Agent, port: number): Promise<string> {
  const nonce = newNonce()
  const r1 = await request(agent, port, 'POST', '/raft/handshake', {}, packControl({ v: WIRE_VERSION, cluster: CLUSTER, from: FUZZER, to: 1, nonce }))
  if (r1 instanceof Error || r1.status !== 200) throw new Error(`handshake: ${r1 instanceof Error ? r1.message : r1.status}`)
  const a = unpackControl(r1.body)
  const mine = proof(SECRET, 'client', CLUSTER, FUZZER, 1, nonce, a.nonce as Uint8Array)
  const r2 = await request(agent, port, 'POST', '/raft/session', {}, packControl({ challenge: a.challenge, proof: mine }))
  if (r2 instanceof Error || r2.status !== 200) throw new Error(`session: ${r2 instanceof Error ? r2.message : r2.status}`)
  return unpackControl(r2.body).token as string
}

/** What the cluster process reports once the fuzzing is over. */
interface ClusterReport {
  readonly putsDuring: number
  readonly failedPuts: number
  readonly malformed: Record<string, number>
  readonly refused: Record<string, number>
  readonly receivedFromFuzzer: number
  readonly afterPut: unknown
  readonly node1Running: boolean
  /** CPU time of the process while fuzzed, ms. */
  readonly cpuMs: number
}

/** What the fuzzer process reports. */
interface FuzzReport {
  readonly requests: number
  readonly elapsedMs: number
  readonly statuses: Record<string, number>
  readonly freshHandshake: boolean
  readonly cpuMs: number
}

/** Lines from stdin, one at a time. */
function lines(): AsyncIterableIterator<string> {
  return createInterface({ input: process.stdin })[Symbol.asyncIterator]()
}

/**
 * The cluster: three nodes on HttpTransport, node 1 also knowing node 9 (the fuzzer's id). Prints
 * node 1's port; on `go`, writes through every node until `stop`; then checks node 1 and reports.
 */
async function cluster(): Promise<void> {
  const transports = [1, 2, 3].map(() => new HttpTransport({ listen: { host: '127.0.0.1', port: 0 }, clusterId: CLUSTER, secret: SECRET, maxBodyBytes: 1024 * 1024, maxSnapshotBytes: 4 * 1024 * 1024 }))
  const ports = await Promise.all(transports.map((tr) => tr.listen()))
  const peers = ports.map((port, i) => ({ id: i + 1, address: `http://127.0.0.1:${port}` }))
  transports[0].addPeer(FUZZER, 'http://127.0.0.1:1')
  const nodes: MetastoreNode<number>[] = []
  try {
    for (let i = 0; i < 3; i++) {
      nodes.push(await createNode<number>({ id: i + 1, peers, storage: await memoryStorage(), transport: transports[i], tickMs: 100, requestTimeoutMs: 10_000 }))
    }
    await nodes[0].waitForLeader()
    await nodes[0].kv.put('before', 1)
    const input = lines()
    process.stdout.write(`${JSON.stringify({ port: ports[0] })}\n`)
    await input.next() // go
    const cpu0 = process.cpuUsage()
    let fuzzing = true
    let committed = 0
    let failedPuts = 0
    const writer = (async () => {
      for (let i = 0; fuzzing; i++) {
        try {
          await nodes[i % 3].kv.put(`k${i % 50}`, i)
          committed++
        } catch {
          failedPuts++
        }
      }
    })()
    await input.next() // stop
    const cpu = process.cpuUsage(cpu0)
    const putsDuring = committed
    fuzzing = false
    await writer
    // Node 1 still serves: a put through it, read on another node.
    await until('a put through node 1', async () => {
      try {
        await nodes[0].kv.put('after', 42)
        return true
      } catch {
        return false
      }
    })
    const m = transports[0].metrics
    const counts = (name: string, reasons: string[]) => Object.fromEntries(reasons.map((reason) => [reason, m.counter(name, '').get({ reason })]))
    const report: ClusterReport = {
      putsDuring,
      failedPuts,
      malformed: counts('metastore_transport_malformed_frames_total', ['decode', 'addressing', 'oversize', 'protocol']),
      refused: counts('metastore_transport_refused_total', ['session', 'cluster', 'node', 'secret', 'protocol']),
      receivedFromFuzzer: m.counter('metastore_transport_received_messages_total', '').get({ peer: FUZZER }),
      afterPut: (await nodes[2].kv.get('after'))?.value,
      node1Running: !nodes[0].raft.closed,
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    }
    process.stdout.write(`${JSON.stringify(report)}\n`)
  } finally {
    for (const n of nodes) await n.close()
    for (const tr of transports) await tr.close()
    process.stdin.destroy()
  }
}

/** The fuzzer: REQUESTS hostile requests to node 1 at `port`, CONCURRENCY at a time. */
async function fuzzer(port: number): Promise<void> {
  const rng = new SeededRng(SEED)
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY })
  try {
    let token = await openSession(agent, port)
    const batches = seeds()
    const snapBody = snapshotBody()
    const statuses = new Map<string, number>()
    const latency = new Map<string, number>()
    const tally = (kind: string, a: Answer | Error | string, since: number): void => {
      latency.set(kind, (latency.get(kind) ?? 0) + performance.now() - since)
      const k = `${kind} ${typeof a === 'string' ? (a.startsWith('HTTP/1.1 ') ? a.slice(9, 12) : 'closed') : a instanceof Error ? 'error' : a.status}`
      statuses.set(k, (statuses.get(k) ?? 0) + 1)
    }
    const routes = ['/raft/handshake', '/raft/session', '/raft/messages', '/raft/snapshot']
    const hello = () => ({ v: WIRE_VERSION, cluster: CLUSTER, from: FUZZER, to: 1, nonce: newNonce() })

    const one = async (): Promise<void> => {
      const since = performance.now()
      const mark = (kind: string, a: Answer | Error | string): void => tally(kind, a, since)
      const pick = rng.int(100)
      const tok = (): Record<string, string> => (rng.chance(0.5) ? { 'x-metastore-session': token } : {})
      if (pick < 22) {
        // Mutated valid batches with the real session: refused as malformed or misaddressed.
        const base = batches[rng.int(batches.length)]
        mark('mutated-batch', await request(agent, port, 'POST', '/raft/messages', { 'x-metastore-session': token }, mutate(rng, base)))
      } else if (pick < 34) {
        mark('random-body', await request(agent, port, 'POST', routes[rng.int(routes.length)], tok(), randomBytes(rng, 512)))
      } else if (pick < 44) {
        // Valid batches with wrong, missing or stale tokens.
        const headers: Record<string, string> = [{}, { 'x-metastore-session': 'x'.repeat(rng.int(64)) }, { 'x-metastore-session': token.slice(1) }][rng.int(3)]
        mark('bad-token', await request(agent, port, 'POST', rng.chance(0.8) ? '/raft/messages' : '/raft/snapshot', headers, batches[rng.int(batches.length)]))
      } else if (pick < 50) {
        // Intact batches from the session's own node: delivered (responses Raft ignores from a non-member).
        const m = makeMessage({ type: rng.chance(0.5) ? MessageType.HeartbeatResp : MessageType.AppResp, from: FUZZER, to: 1 })
        mark('own-batch', await request(agent, port, 'POST', '/raft/messages', { 'x-metastore-session': token }, encodeBatch([m])))
      } else if (pick < 60) {
        // Handshakes: mutated hellos, wrong clusters and ids.
        const h = hello() as Record<string, unknown>
        const field = ['v', 'cluster', 'from', 'to', 'nonce'][rng.int(5)]
        h[field] = [undefined, null, -1, 0, 2 ** 53, 'x', enc.encode('short'), {}, [1, 2], 1.5, 'another', 2, 3][rng.int(13)]
        const body = rng.chance(0.5) ? mutate(rng, packControl(hello())) : packControl(h)
        mark('hello', await request(agent, port, 'POST', '/raft/handshake', {}, body))
      } else if (pick < 65) {
        let body: Uint8Array
        if (rng.chance(0.5)) {
          // A real challenge answered with a wrong proof: refused for the secret.
          const r = await request(agent, port, 'POST', '/raft/handshake', {}, packControl(hello()))
          const challenge = r instanceof Error || r.status !== 200 ? 'none' : unpackControl(r.body).challenge
          body = packControl({ challenge, proof: rng.chance(0.5) ? randomBytes(rng, 40) : new Uint8Array(32) })
        } else {
          body = rng.chance(0.5) ? packControl({ challenge: 'x'.repeat(rng.int(40)), proof: randomBytes(rng, 40) }) : mutate(rng, packControl({ challenge: 'abc', proof: new Uint8Array(32) }))
        }
        mark('session', await request(agent, port, 'POST', '/raft/session', {}, body))
      } else if (pick < 72) {
        mark('snapshot', await request(agent, port, 'POST', '/raft/snapshot', { 'x-metastore-session': token }, mutate(rng, snapBody)))
      } else if (pick < 82) {
        const paths = ['/', '/raft', '/raft/', '/raftx', '/raft/messages/extra', '/raft/../raft/messages', '/raft/messages?x=1', '/%00', `/raft/${'a'.repeat(rng.int(3000))}`]
        const methods = ['GET', 'PUT', 'DELETE', 'POST', 'OPTIONS', 'PATCH']
        mark('path', await request(agent, port, methods[rng.int(methods.length)], paths[rng.int(paths.length)], tok(), randomBytes(rng, 64)))
      } else if (pick < 92) {
        // A fresh handshake now and then: the new session works, and old ones are forgotten.
        if (rng.chance(0.02)) token = await openSession(agent, port)
        mark('valid-hello', await request(agent, port, 'POST', '/raft/handshake', {}, packControl(hello())))
      } else if (pick < 96) {
        // Truncated bodies: announce more than is sent, then go away.
        const route = routes[rng.int(routes.length)]
        const body = mutate(rng, batches[rng.int(batches.length)])
        const head = `POST ${route} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length + 1 + rng.int(1000)}\r\nx-metastore-session: ${token}\r\n\r\n`
        mark('truncated', await raw(port, Uint8Array.from([...enc.encode(head), ...body])))
      } else if (pick < 98) {
        // Huge announced bodies: refused before they are read.
        const route = routes[rng.int(routes.length)]
        const length = [1024 * 1024 + 1, 2 ** 31, 2 ** 40, Number.MAX_SAFE_INTEGER][rng.int(4)]
        const head = `POST ${route} HTTP/1.1\r\nHost: x\r\nContent-Length: ${length}\r\nx-metastore-session: ${token}\r\n\r\n`
        mark('huge', await raw(port, Uint8Array.from([...enc.encode(head), ...randomBytes(rng, 2048)])))
      } else {
        // Not HTTP at all, or broken HTTP.
        const heads = [`GARBAGE\r\n\r\n`, `POST /raft/messages HTTP/1.1\r\nContent-Length: -5\r\n\r\n`, `POST /raft/messages HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`, `POST /raft/messages HTTP/9.9\r\n\r\n`]
        const bytes = rng.chance(0.5) ? enc.encode(heads[rng.int(heads.length)]) : randomBytes(rng, 256)
        mark('garbage', await raw(port, bytes))
      }
    }

    const started = Date.now()
    const cpu0 = process.cpuUsage()
    let next = 0
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < REQUESTS) {
          if (++next % 20_000 === 0) console.error(`${next} requests started after ${Date.now() - started} ms`)
          await one()
        }
      }),
    )
    const elapsedMs = Date.now() - started
    const cpu = process.cpuUsage(cpu0)
    if (process.env.FUZZ_LATENCY) console.error(JSON.stringify(Object.fromEntries([...latency].map(([k, v]) => [k, Math.round(v)]))))
    const fresh = await openSession(agent, port)
    const report: FuzzReport = { requests: next, elapsedMs, statuses: Object.fromEntries([...statuses].sort()), freshHandshake: fresh.length > 0, cpuMs: Math.round((cpu.user + cpu.system) / 1000) }
    process.stdout.write(`${JSON.stringify(report)}\n`)
  } finally {
    agent.destroy()
  }
}

/** A child process of this file in `role`, its stdout read line by line. */
function child(role: string, env: Record<string, string> = {}): { proc: ChildProcessWithoutNullStreams; lines: AsyncIterableIterator<string> } {
  const proc = spawn(process.execPath, [fileURLToPath(import.meta.url)], {
    env: { ...process.env, METASTORE_FUZZ_ROLE: role, FUZZ_SEED: String(SEED), FUZZ_REQUESTS: String(REQUESTS), ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  return { proc, lines: createInterface({ input: proc.stdout })[Symbol.asyncIterator]() }
}

async function nextLine(lines: AsyncIterableIterator<string>, what: string): Promise<string> {
  const r = await lines.next()
  if (r.done) throw new Error(`the ${what} process ended without a report`)
  return r.value
}

const role = process.env.METASTORE_FUZZ_ROLE
if (role === 'cluster') {
  await cluster()
} else if (role === 'fuzzer') {
  await fuzzer(Number(process.env.FUZZ_PORT))
} else {
  const { default: t } = await import('tap')
  t.test(`node 1 takes ${REQUESTS} hostile requests; the cluster keeps committing (FUZZ_SEED=${SEED})`, async (t) => {
    const procs: ChildProcessWithoutNullStreams[] = []
    t.teardown(() => {
      for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
    })
    const exited = (p: ChildProcessWithoutNullStreams) => new Promise<number | null>((resolve) => (p.exitCode !== null ? resolve(p.exitCode) : p.on('exit', (c) => resolve(c))))
    const c = child('cluster')
    procs.push(c.proc)
    c.proc.stderr.on('data', (b: Buffer) => t.comment(`cluster: ${b.toString().trim()}`))
    const { port } = JSON.parse(await nextLine(c.lines, 'cluster')) as { port: number }
    c.proc.stdin.write('go\n')
    const f = child('fuzzer', { FUZZ_PORT: String(port) })
    procs.push(f.proc)
    f.proc.stderr.on('data', (b: Buffer) => t.comment(`fuzzer: ${b.toString().trim()}`))
    const fuzz = JSON.parse(await nextLine(f.lines, 'fuzzer')) as FuzzReport
    t.equal(await exited(f.proc), 0, 'the fuzzer exits cleanly')
    c.proc.stdin.write('stop\n')
    const report = JSON.parse(await nextLine(c.lines, 'cluster')) as ClusterReport
    t.equal(await exited(c.proc), 0, 'the cluster closes cleanly')
    t.comment(JSON.stringify(fuzz.statuses))

    t.equal(fuzz.requests, REQUESTS, `${fuzz.requests} requests in ${fuzz.elapsedMs} ms (CPU: node 1's process ${report.cpuMs} ms, the fuzzer's ${fuzz.cpuMs} ms)`)
    t.ok(report.putsDuring > 0, `the cluster kept committing during the fuzzing (${report.putsDuring} puts, ${report.failedPuts} failed)`)
    t.ok(Object.values(report.malformed).every((n) => n > 0), `malformed requests counted, by reason ${JSON.stringify(report.malformed)}`)
    t.ok(Object.values(report.refused).every((n) => n > 0), `refusals counted, by reason ${JSON.stringify(report.refused)}`)
    t.ok(report.receivedFromFuzzer > 0, 'the session’s own batches were delivered')
    t.notOk(Object.keys(fuzz.statuses).some((k) => / (5\d\d|error)$/.test(k)), 'no 5xx answer, and every request answered')
    t.ok(fuzz.freshHandshake, 'node 1 still completes a handshake afterwards')
    t.equal(report.afterPut, 42, 'a put through node 1 afterwards is read on node 3')
    t.ok(report.node1Running, 'node 1 is running')
  })
}
