import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { Metrics } from '../../lib/metrics.js'
import { EntryType, makeMessage, MessageType, type Message, type NodeId } from '../../lib/raft/types.js'
import { newNonce } from '../../transports/auth.js'
import { HttpTransport, type HttpTransportOptions } from '../../transports/http.js'
import { packControl, unpackControl } from '../../transports/http-protocol.js'
import { encodeBatch, WIRE_VERSION } from '../../transports/wire.js'

interface Node {
  readonly id: NodeId
  readonly transport: HttpTransport
  readonly metrics: Metrics
  readonly inbox: Array<{ from: NodeId; messages: readonly Message[] }>
  readonly unreachable: NodeId[]
  readonly url: string
}

/** Waits for a condition, polling; fails after a generous bound (never a fixed sleep). */
async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

async function node(
  t: { teardown(fn: () => unknown): void },
  id: NodeId,
  options: Partial<HttpTransportOptions> = {},
): Promise<Node> {
  const metrics = new Metrics()
  const transport = new HttpTransport({ listen: { host: '127.0.0.1', port: 0 }, clusterId: 'c1', metrics, ...options })
  t.teardown(() => transport.close())
  const inbox: Node['inbox'] = []
  const unreachable: NodeId[] = []
  await transport.start(id, { onMessages: (from, messages) => inbox.push({ from, messages }), onUnreachable: (to) => unreachable.push(to) })
  const scheme = options.tls ? 'https' : 'http'
  return { id, transport, metrics, inbox, unreachable, url: `${scheme}://127.0.0.1:${transport.port}` }
}

function link(...nodes: Node[]): void {
  for (const a of nodes) for (const b of nodes) if (a !== b) a.transport.addPeer(b.id, b.url)
}

const hb = (from: NodeId, to: NodeId, commit = 0): Message => makeMessage({ type: MessageType.Heartbeat, from, to, term: 1, commit })
const commits = (n: Node): number[] => n.inbox.flatMap((b) => b.messages.map((m) => m.commit))

/** POSTs raw bytes and returns the status and body. */
function post(url: string, headers: Record<string, string>, body: Uint8Array | string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/octet-stream', ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** Opens a session on `to` as node `from` (no secret), as a dialer would. */
async function session(to: Node, from: NodeId): Promise<string> {
  const r = await post(`${to.url}/raft/handshake`, {}, packControl({ v: WIRE_VERSION, cluster: 'c1', from, to: to.id, nonce: newNonce() }))
  if (r.status !== 200) throw new Error(`handshake refused: ${r.status} ${r.body.toString()}`)
  return unpackControl(r.body).token as string
}

t.test('delivers batches both ways, in order, coalesced per flush', async (t) => {
  const a = await node(t, 1)
  const b = await node(t, 2)
  link(a, b)
  for (let i = 1; i <= 300; i++) a.transport.send(2, [hb(1, 2, i)])
  b.transport.send(1, [hb(2, 1, 7)])
  await until('300 messages at b', () => commits(b).length === 300)
  await until('1 message at a', () => commits(a).length === 1)
  t.same(commits(b), Array.from({ length: 300 }, (_, i) => i + 1), 'in the order sent')
  t.ok(b.inbox.length < 300, `300 sends in one tick travel in fewer batches (${b.inbox.length})`)
  t.ok(b.inbox.every((x) => x.from === 1), 'attributed to the session peer')
  // Counted once the answer is back, a moment after the delivery.
  await until('sent counted', () => a.metrics.counter('metastore_transport_sent_messages_total', '').get({ peer: 2 }) === 300)
  t.pass('sent counted')
  t.equal(b.metrics.counter('metastore_transport_received_messages_total', '').get({ peer: 1 }), 300, 'received counted')
  t.ok(b.metrics.counter('metastore_transport_received_bytes_total', '').get({ peer: 1 }) > 0, 'bytes counted')
  t.same(a.unreachable, [], 'nothing reported unreachable')
})

t.test('mounted on a host server next to its routes; 503 on its path after close', async (t) => {
  const server = http.createServer((req, res) => {
    if (req.url === '/hello') res.end('hi')
    else {
      res.statusCode = 404
      res.end('host 404')
    }
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => {
    server.close(() => r())
    server.closeAllConnections()
  }))
  const port = (server.address() as net.AddressInfo).port
  const mounted = await node(t, 1, { listen: undefined, server, path: '/cluster/raft' })
  t.equal(mounted.transport.port, port, 'reports the host server port')
  const other = await node(t, 2, { path: '/cluster/raft' })
  const m: Node = { ...mounted, url: `http://127.0.0.1:${port}` }
  link(m, other)
  other.transport.send(1, [hb(2, 1, 5)])
  m.transport.send(2, [hb(1, 2, 6)])
  await until('delivery both ways', () => commits(m).length === 1 && commits(other).length === 1)
  t.same([commits(m), commits(other)], [[5], [6]])
  const hello = await post(`http://127.0.0.1:${port}/hello`, {}, '')
  t.equal(hello.body.toString(), 'hi', 'the host route still answers')
  const miss = await post(`http://127.0.0.1:${port}/cluster/raftx`, {}, '')
  t.equal(miss.body.toString(), 'host 404', 'a path that only starts like ours is the host’s')
  await m.transport.close()
  const after = await post(`http://127.0.0.1:${port}/cluster/raft/messages`, {}, 'x')
  t.equal(after.status, 503, 'its path answers 503 once closed')
  t.equal((await post(`http://127.0.0.1:${port}/hello`, {}, '')).body.toString(), 'hi', 'the host keeps serving')
})

t.test('handle() from the host’s own listener', async (t) => {
  let transport: HttpTransport | undefined
  const server = http.createServer((req, res) => {
    if (transport?.handle(req, res)) return
    res.end('app')
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => {
    server.close(() => r())
    server.closeAllConnections()
  }))
  const h = await node(t, 1, { listen: undefined })
  transport = h.transport
  t.equal(h.transport.port, undefined, 'no port of its own')
  const other = await node(t, 2)
  const hn: Node = { ...h, url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}` }
  link(hn, other)
  other.transport.send(1, [hb(2, 1, 9)])
  await until('delivery', () => commits(hn).length === 1)
  t.same(commits(hn), [9])
  t.equal((await post(`${hn.url}/other`, {}, '')).body.toString(), 'app', 'other paths are the app’s')
})

t.test('handshake refusals are answered, counted, logged and reported', async (t) => {
  const logged: string[] = []
  const logger = { debug() {}, info() {}, warn: (m: string) => logged.push(m), error: (m: string) => logged.push(m) }
  const server = await node(t, 1, { secret: 's3cret', logger })
  const refused = (reason: string) => server.metrics.counter('metastore_transport_refused_total', '').get({ reason })

  // Another cluster.
  const foreign = await node(t, 2, { clusterId: 'c2', secret: 's3cret' })
  foreign.transport.addPeer(1, server.url)
  server.transport.addPeer(2, foreign.url)
  foreign.transport.send(1, [hb(2, 1)])
  await until('foreign refused', () => refused('cluster') === 1 && foreign.unreachable.includes(1))
  t.ok(logged.some((l) => /403.*cluster/.test(l)), 'the refusal is logged')

  // Wrong secret: the acceptor proves first, so the dialer finds out and refuses it.
  const wrong = await node(t, 3, { secret: 'other' })
  wrong.transport.addPeer(1, server.url)
  server.transport.addPeer(3, wrong.url)
  wrong.transport.send(1, [hb(3, 1)])
  await until('wrong secret refused by the dialer', () => wrong.metrics.counter('metastore_transport_refused_total', '').get({ reason: 'secret' }) === 1)

  // No secret at all against a node that has one: the dialer cannot prove it.
  const none = await node(t, 4)
  none.transport.addPeer(1, server.url)
  server.transport.addPeer(4, none.url)
  none.transport.send(1, [hb(4, 1)])
  await until('no-secret dialer reported unreachable', () => none.unreachable.includes(1))

  // A forged client proof is refused by the acceptor.
  const nonce = newNonce()
  const r1 = await post(`${server.url}/raft/handshake`, {}, packControl({ v: WIRE_VERSION, cluster: 'c1', from: 3, to: 1, nonce }))
  t.equal(r1.status, 200, 'a hello from a known peer gets a challenge')
  const challenge = unpackControl(r1.body).challenge as string
  const r2 = await post(`${server.url}/raft/session`, {}, packControl({ challenge, proof: new Uint8Array(32) }))
  t.equal(r2.status, 401, 'a wrong proof: 401')
  t.equal(refused('secret'), 1, 'counted as a secret refusal')
  const r3 = await post(`${server.url}/raft/session`, {}, packControl({ challenge, proof: new Uint8Array(32) }))
  t.equal(r3.status, 400, 'a challenge is answered once')

  // Unknown node, and a `to` that is not this node.
  const unknown = await post(`${server.url}/raft/handshake`, {}, packControl({ v: WIRE_VERSION, cluster: 'c1', from: 99, to: 1, nonce }))
  t.equal(unknown.status, 403, 'an unknown node: 403')
  t.match(JSON.parse(unknown.body.toString()), { code: 'UNAUTHORIZED', reason: 'node' })
  const misdirected = await post(`${server.url}/raft/handshake`, {}, packControl({ v: WIRE_VERSION, cluster: 'c1', from: 3, to: 7, nonce }))
  t.equal(misdirected.status, 403, 'a hello for another node: 403')
  t.equal(refused('node'), 2, 'both counted')
  const badVersion = await post(`${server.url}/raft/handshake`, {}, packControl({ v: 99, cluster: 'c1', from: 3, to: 1, nonce }))
  t.equal(badVersion.status, 400, 'another wire version: 400')

  // A node with a secret refuses an acceptor without one.
  const open = await node(t, 5)
  const strict = await node(t, 6, { secret: 's3cret' })
  strict.transport.addPeer(5, open.url)
  open.transport.addPeer(6, strict.url)
  strict.transport.send(5, [hb(6, 5)])
  await until('strict dialer refuses', () => strict.unreachable.includes(5))
  t.equal(strict.metrics.counter('metastore_transport_refused_total', '').get({ reason: 'secret' }), 1, 'the acceptor did not prove the secret')
  t.same(server.inbox, [], 'nothing was delivered')
  t.same(open.inbox, [], 'nothing was delivered')

  // And the right secret works.
  const good = await node(t, 7, { secret: 's3cret' })
  good.transport.addPeer(1, server.url)
  server.transport.addPeer(7, good.url)
  good.transport.send(1, [hb(7, 1, 3)])
  await until('delivery with the secret', () => commits(server).length === 1)
  t.same(server.inbox.map((b) => b.from), [7])
})

t.test('sessions: required, bound to their peer, dropped with it, expiring', async (t) => {
  const b = await node(t, 2, { sessionTtlMs: 60_000 })
  b.transport.addPeer(1, 'http://127.0.0.1:1')
  b.transport.addPeer(3, 'http://127.0.0.1:1')
  const batch = encodeBatch([hb(1, 2, 1)])
  const refused = () => b.metrics.counter('metastore_transport_refused_total', '').get({ reason: 'session' })
  t.equal((await post(`${b.url}/raft/messages`, {}, batch)).status, 401, 'no token: 401')
  t.equal((await post(`${b.url}/raft/messages`, { 'x-metastore-session': 'made-up' }, batch)).status, 401, 'an unknown token: 401')
  t.equal(refused(), 2, 'counted')
  const token = await session(b, 1)
  t.equal((await post(`${b.url}/raft/messages`, { 'x-metastore-session': token }, batch)).status, 204, 'the session’s own batch: 204')
  const forged = await post(`${b.url}/raft/messages`, { 'x-metastore-session': token }, encodeBatch([hb(3, 2, 2)]))
  t.equal(forged.status, 400, 'a batch claiming another sender is refused')
  t.equal(b.metrics.counter('metastore_transport_malformed_frames_total', '').get({ reason: 'addressing' }), 1, 'counted')
  const misaddressed = await post(`${b.url}/raft/messages`, { 'x-metastore-session': token }, encodeBatch([hb(1, 5, 2)]))
  t.equal(misaddressed.status, 400, 'a batch for another node is refused')
  t.same(commits(b), [1], 'only the honest batch was delivered')
  b.transport.removePeer(1)
  t.equal((await post(`${b.url}/raft/messages`, { 'x-metastore-session': token }, batch)).status, 401, 'a removed peer’s session is gone')

  const c = await node(t, 4, { sessionTtlMs: 1 })
  c.transport.addPeer(1, 'http://127.0.0.1:1')
  const issued = Date.now()
  const short = await session(c, 1)
  await until('the session’s lifetime passes', () => Date.now() > issued + 5)
  t.equal((await post(`${c.url}/raft/messages`, { 'x-metastore-session': short }, batch)).status, 401, 'an expired session: 401')
})

t.test('a dialer renews its session, and handshakes again when the acceptor forgot it', async (t) => {
  const a = await node(t, 1)
  const b = await node(t, 2, { sessionTtlMs: 200 })
  link(a, b)
  let sent = 0
  const more = (): void => a.transport.send(2, [hb(1, 2, ++sent)])
  more()
  await until('first delivery', () => commits(b).length === 1)
  // Keep sending across several session lifetimes: renewals keep the link up.
  const end = Date.now() + 1000
  while (Date.now() < end) {
    more()
    await new Promise((r) => setTimeout(r, 10))
  }
  await until('late deliveries', () => commits(b).includes(sent) || commits(b).length >= sent - 3)
  t.ok(commits(b).length >= sent / 2, `most messages delivered across renewals (${commits(b).length}/${sent})`)
  // b restarts (a new transport at a new port): a's token is unknown there; a handshakes again.
  await b.transport.close()
  const b2 = await node(t, 2)
  b2.transport.addPeer(1, a.url)
  a.transport.addPeer(2, b2.url)
  for (let i = 0; i < 50 && commits(b2).length === 0; i++) {
    a.transport.send(2, [hb(1, 2, 1000 + i)])
    await new Promise((r) => setTimeout(r, 20))
  }
  await until('delivery after the restart', () => commits(b2).length > 0)
  t.ok(commits(b2).length > 0, 'delivered to the new incarnation')
})

t.test('413 for bodies over the limit, 400 for malformed ones; the node keeps working', async (t) => {
  const a = await node(t, 1)
  const b = await node(t, 2, { maxBodyBytes: 1024 })
  link(a, b)
  const token = await session(b, 1)
  const malformed = (reason: string) => b.metrics.counter('metastore_transport_malformed_frames_total', '').get({ reason })
  const declared = await post(`${b.url}/raft/messages`, { 'x-metastore-session': token }, new Uint8Array(2048))
  t.equal(declared.status, 413, 'Content-Length over the limit: 413')
  const chunked = await new Promise<number>((resolve, reject) => {
    const req = http.request(`${b.url}/raft/messages`, { method: 'POST', headers: { 'x-metastore-session': token }, agent: false }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', reject)
    for (let i = 0; i < 8; i++) req.write(new Uint8Array(512))
    req.end()
  })
  t.equal(chunked, 413, 'a chunked body that grows over the limit: 413')
  t.equal((await post(`${b.url}/raft/messages`, { 'x-metastore-session': token }, new Uint8Array([0xc1, 1, 2]))).status, 400, 'not msgpack: 400')
  t.equal((await post(`${b.url}/raft/messages`, { 'x-metastore-session': token }, packControl({ a: 1 }))).status, 400, 'wrong shape: 400')
  const big = await post(`${b.url}/raft/handshake`, {}, new Uint8Array(5000))
  t.equal(big.status, 413, 'a hello over its small limit: 413')
  t.equal((await post(`${b.url}/raft/nowhere`, {}, '')).status, 404, 'unknown route: 404')
  const get = await new Promise<number>((resolve, reject) => {
    http.get(`${b.url}/raft/messages`, { agent: false }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    }).on('error', reject)
  })
  t.equal(get, 405, 'not a POST: 405')
  t.same([malformed('oversize'), malformed('decode'), malformed('protocol')], [3, 2, 2], 'counted as malformed, by reason')

  // Wrong methods and paths with bodies (chunked, for GET and DELETE) over kept-alive sockets:
  // every request gets exactly one clean answer.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 })
  t.teardown(() => agent.destroy())
  const answers = new Set<string>()
  for (const method of ['GET', 'DELETE', 'OPTIONS', 'PUT', 'POST']) {
    for (const path of ['/', '/raft', '/raft/x', '/elsewhere']) {
      answers.add(
        await new Promise<string>((resolve) => {
          const req = http.request(`${b.url}${path}`, { method, agent }, (res) => {
            res.resume()
            res.on('end', () => resolve(String(res.statusCode)))
          })
          req.on('error', (err) => resolve(`error ${err.message}`))
          req.end(new Uint8Array(64))
        }),
      )
    }
  }
  t.same([...answers].sort(), ['404', '405'], 'answered 404 or 405, never a broken connection')
  a.transport.send(2, [hb(1, 2, 42)])
  await until('a normal batch afterwards', () => commits(b).includes(42))
  t.pass('still serving')
})

t.test('keep-alive: batches reuse one socket', async (t) => {
  const server = http.createServer()
  let connections = 0
  server.on('connection', () => connections++)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => {
    server.close(() => r())
    server.closeAllConnections()
  }))
  const b0 = await node(t, 2, { listen: undefined, server })
  const b: Node = { ...b0, url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}` }
  const a = await node(t, 1)
  link(a, b)
  for (let i = 1; i <= 200; i++) {
    a.transport.send(2, [hb(1, 2, i)])
    await until(`delivery ${i}`, () => commits(b).length === i)
  }
  t.equal(commits(b).length, 200, '200 separate batches')
  t.ok(connections <= 2, `over at most 2 sockets (handshake + batches share them): ${connections}`)

  // With more POSTs in flight, still a bounded number of sockets.
  connections = 0
  const c = await node(t, 3, { maxInflight: 3 })
  b.transport.addPeer(3, c.url)
  c.transport.addPeer(2, b.url)
  let sent = 0
  for (let round = 0; round < 40; round++) {
    for (let i = 0; i < 10; i++) c.transport.send(2, [hb(3, 2, 10_000 + ++sent)])
    await new Promise((r) => setImmediate(r))
  }
  await until('every batch from node 3', () => b.inbox.filter((x) => x.from === 3).flatMap((x) => x.messages).length === sent)
  t.ok(connections <= 4, `maxInflight 3: at most 4 sockets (${connections})`)
})

t.test('a full queue or a dead peer drops, counts and reports unreachable', async (t) => {
  const dead = net.createServer()
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r))
  const deadPort = (dead.address() as net.AddressInfo).port
  await new Promise<void>((r) => dead.close(() => r()))
  const a = await node(t, 1, { queueLimit: 10 })
  a.transport.addPeer(2, `http://127.0.0.1:${deadPort}`)
  a.transport.send(2, Array.from({ length: 25 }, (_, i) => hb(1, 2, i)))
  const dropped = () => a.metrics.counter('metastore_transport_dropped_messages_total', '').get({ peer: 2 })
  t.equal(dropped(), 15, 'over the queue limit: dropped at once')
  await until('the rest dropped when the peer cannot be reached', () => dropped() === 25)
  await until('reported unreachable', () => a.unreachable.includes(2))
  a.transport.send(9, [hb(1, 9)])
  await until('an unknown peer is unreachable too', () => a.unreachable.includes(9))
  t.equal(a.metrics.counter('metastore_transport_dropped_messages_total', '').get({ peer: 9 }), 1)
})

t.test('the queue to a peer that does not answer is bounded in bytes, not only in messages', async (t) => {
  // A peer that accepts connections and never answers (a stopped process, as the kernel sees it).
  const mute = net.createServer(() => {})
  const held = new Set<net.Socket>()
  mute.on('connection', (s) => {
    held.add(s)
    s.on('error', () => {})
  })
  await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => {
    for (const s of held) s.destroy()
    mute.close(() => r())
  }))
  const a = await node(t, 1, { queueBytes: 4 * 1024 * 1024 })
  a.transport.addPeer(2, `http://127.0.0.1:${(mute.address() as net.AddressInfo).port}`)
  const big = (i: number): Message => makeMessage({
    type: MessageType.App,
    from: 1,
    to: 2,
    term: 1,
    index: i,
    entries: [{ term: 1, index: i + 1, type: EntryType.Normal, data: new Uint8Array(1024 * 1024) }],
  })
  for (let i = 0; i < 40; i++) a.transport.send(2, [big(i)])
  const dropped = a.metrics.counter('metastore_transport_dropped_messages_total', '').get({ peer: 2 })
  t.ok(dropped >= 35, `40 messages of 1 MiB to a 4 MiB queue: most dropped at once (${dropped})`)
  await until('reported unreachable', () => a.unreachable.includes(2))
  t.throws(() => new HttpTransport({ listen: { port: 0 }, clusterId: 'c', queueBytes: 0 }), TypeError, 'queueBytes is checked')
})

t.test('a snapshot streams on its own socket while heartbeats keep flowing', async (t) => {
  const a = await node(t, 1)
  const b = await node(t, 2)
  // A proxy in front of b that holds a snapshot request once it has seen its first bytes.
  let held: { release: () => void } | undefined
  const sockets = new Set<net.Socket>()
  const proxy = net.createServer((client) => {
    const upstream = net.connect(b.transport.port as number, '127.0.0.1')
    sockets.add(client).add(upstream)
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
    upstream.pipe(client)
    client.once('data', (first) => {
      upstream.write(first)
      if (first.toString('latin1').startsWith('POST /raft/snapshot')) {
        client.pause()
        held = { release: () => client.pipe(upstream) }
      } else {
        client.pipe(upstream)
      }
    })
  })
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    proxy.close()
  })
  a.transport.addPeer(2, `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`)
  b.transport.addPeer(1, a.url)
  const data = new Uint8Array(24 * 1024 * 1024)
  for (let i = 0; i < data.length; i += 4096) data[i] = (i / 4096) & 0xff
  const snap = makeMessage({
    type: MessageType.Snap,
    from: 1,
    to: 2,
    term: 1,
    snapshot: { metadata: { index: 100, term: 1, confState: { voters: [1, 2], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } }, data },
  })
  a.transport.send(2, [hb(1, 2, 1)])
  await until('the link is up', () => commits(b).length === 1)
  a.transport.send(2, [snap])
  await until('the snapshot request is held', () => held !== undefined)
  for (let i = 2; i <= 20; i++) a.transport.send(2, [hb(1, 2, i)])
  await until('heartbeats pass the held snapshot', () => commits(b).length === 20)
  t.notOk(b.inbox.some((x) => x.messages.some((m) => m.type === MessageType.Snap)), 'the snapshot has not arrived yet')
  held?.release()
  await until('the snapshot arrives', () => b.inbox.some((x) => x.messages.some((m) => m.type === MessageType.Snap)))
  const got = b.inbox.flatMap((x) => x.messages).find((m) => m.type === MessageType.Snap)
  t.equal(got?.snapshot?.metadata.index, 100, 'metadata intact')
  t.equal(got?.snapshot?.data.byteLength, data.byteLength, 'all of the data')
  t.ok(Buffer.from(got?.snapshot?.data ?? []).equals(Buffer.from(data)), 'the same bytes')
})

t.test('close() leaves no handle open', async (t) => {
  // Handles (sockets, servers) this test opens are those not open before it; timers and
  // immediates are counted by kind.
  const handles = (): unknown[] => (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles()
  const timers = (): number => process.getActiveResourcesInfo().filter((k) => k === 'Timeout' || k === 'Immediate').length
  const before = new Set(handles())
  const timersBefore = timers()
  const fresh = (): number => handles().filter((h) => !before.has(h)).length
  const a = new HttpTransport({ listen: '127.0.0.1:0', clusterId: 'c1' })
  const b = new HttpTransport({ listen: '127.0.0.1:0', clusterId: 'c1' })
  const got: number[] = []
  await a.start(1, { onMessages: () => {}, onUnreachable: () => {} })
  await b.start(2, { onMessages: (_f, ms) => got.push(...ms.map((m) => m.commit)), onUnreachable: () => {} })
  a.addPeer(2, `http://127.0.0.1:${b.port}`)
  b.addPeer(1, `http://127.0.0.1:${a.port}`)
  for (let i = 1; i <= 20; i++) a.send(2, [hb(1, 2, i)])
  b.send(1, [hb(2, 1, 1)])
  await until('delivery', () => got.length === 20)
  t.ok(fresh() >= 4, `servers and sockets are open while running (${fresh()})`)
  await a.close()
  await b.close()
  await until('handles released', () => fresh() === 0 && timers() <= timersBefore, 5000)
  t.equal(fresh(), 0, 'no socket or server left')
  t.ok(timers() <= timersBefore, 'no timer left')
  a.send(2, [hb(1, 2, 99)])
  t.equal(fresh(), 0, 'sending after close opens nothing')
  await t.rejects(a.start(1, { onMessages: () => {}, onUnreachable: () => {} }), 'a closed transport does not start again')
})

t.test('options are checked', async (t) => {
  t.throws(() => new HttpTransport({ clusterId: '' }), TypeError)
  t.throws(() => new HttpTransport({ clusterId: 'c', path: 'raft' }), TypeError)
  t.throws(() => new HttpTransport({ clusterId: 'c', listen: 'nope' }), TypeError)
  t.throws(() => new HttpTransport({ clusterId: 'c', maxBodyBytes: -1 }), TypeError)
  t.throws(() => new HttpTransport({ clusterId: 'c', listen: ':0', server: http.createServer() }), TypeError)
  const tr = new HttpTransport({ clusterId: 'c' })
  t.throws(() => tr.addPeer(2, 'ftp://x'), TypeError)
  t.throws(() => tr.addPeer(0, 'http://x'), TypeError)
  t.equal(new HttpTransport({ clusterId: 'c', path: '/a/b/' }).path, '/a/b', 'a trailing slash is dropped')
})

function openssl(dir: string, name: string): { key: string; cert: string } {
  const key = join(dir, `${name}.key`)
  const cert = join(dir, `${name}.crt`)
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') }
}

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

t.test('HTTPS with mutual TLS', { skip: hasOpenssl() ? false : 'openssl is not installed' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'metastore-tls-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const one = openssl(dir, 'node1')
  const two = openssl(dir, 'node2')
  const stranger = openssl(dir, 'stranger')
  const ca = [one.cert, two.cert]
  const a = await node(t, 1, { tls: { ...one, ca, mutual: true }, secret: 'x' })
  const b = await node(t, 2, { tls: { ...two, ca, mutual: true }, secret: 'x' })
  link(a, b)
  a.transport.send(2, [hb(1, 2, 1)])
  b.transport.send(1, [hb(2, 1, 2)])
  await until('delivery over TLS both ways', () => commits(a).length === 1 && commits(b).length === 1)
  t.same([commits(a), commits(b)], [[2], [1]])

  // A node whose certificate the others do not trust cannot get in, even knowing the secret.
  const c = await node(t, 3, { tls: { ...stranger, ca, mutual: true }, secret: 'x' })
  b.transport.addPeer(3, c.url)
  c.transport.addPeer(2, b.url)
  c.transport.send(2, [hb(3, 2, 3)])
  await until('the stranger is unreachable', () => c.unreachable.includes(2))
  t.same(commits(b), [1], 'nothing from the stranger')

  // Plain HTTP to a TLS port goes nowhere.
  const plain = await post(`http://127.0.0.1:${a.transport.port}/raft/handshake`, {}, 'x').catch((err: Error) => err)
  t.ok(plain instanceof Error || plain.status >= 400, 'plain HTTP is not served')
})
