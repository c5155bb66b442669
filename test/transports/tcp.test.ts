// What is particular to TcpTransport: addresses, limits, malformed and oversized frames, the
// handshake spoken wrongly, queues and backoff, TLS and mutual TLS.
import { createServer, type Socket } from 'node:net'
import t, { type Test } from 'tap'
import type { Labels } from '../../lib/metrics.js'
import { makeMessage, MessageType, type Message } from '../../lib/raft/types.js'
import { parseAddress, TcpTransport, type TcpTransportOptions } from '../../transports/tcp.js'
import { FrameKind, frame, frameHeader } from '../../transports/tcp-frames.js'
import { encodeBatch } from '../../transports/wire.js'
import { appendMessage, Inbox, selfSignedCert, waitFor } from './conformance.js'
import { RawClient } from './tcp-raw-client.js'

const CLUSTER = 'tcp-test'
const SECRET = 'tcp-test-secret'

function count(tr: TcpTransport, name: string, labels?: Labels): number {
  return tr.metrics.counter(`metastore_transport_${name}`, '').get(labels)
}

function make(t: Test, options: Partial<TcpTransportOptions> = {}): TcpTransport {
  const tr = new TcpTransport({ listen: { host: '127.0.0.1', port: 0 }, clusterId: CLUSTER, secret: SECRET, ...options })
  t.teardown(() => tr.close())
  return tr
}

async function pair(t: Test, a: Partial<TcpTransportOptions> = {}, b: Partial<TcpTransportOptions> = {}) {
  const ta = make(t, a)
  const tb = make(t, b)
  await ta.listen()
  await tb.listen()
  ta.addPeer(2, `127.0.0.1:${tb.port}`)
  tb.addPeer(1, `tcp://127.0.0.1:${ta.port}`)
  const ia = new Inbox()
  const ib = new Inbox()
  await ta.start(1, ia)
  await tb.start(2, ib)
  return { ta, tb, ia, ib }
}

/** Node 1 can still reach node 2: the transport survived whatever the test did. */
async function stillWorks(t: Test, from: TcpTransport, to: Inbox, tag: number): Promise<void> {
  let seq = 0
  await waitFor(() => {
    from.send(2, [appendMessage(1, 2, seq++, tag)])
    return to.from(1).some((m) => m.commit === tag)
  }, 'a message from the real peer')
  t.pass('the real peer still gets through')
}

const heartbeat = (from: number, to: number, term = 1): Message => makeMessage({ type: MessageType.Heartbeat, from, to, term })

t.test('addresses', async (t) => {
  t.strictSame(parseAddress('10.0.0.2:7001'), { host: '10.0.0.2', port: 7001 })
  t.strictSame(parseAddress('tcp://node-a.internal:7001'), { host: 'node-a.internal', port: 7001 })
  t.strictSame(parseAddress('tls://10.0.0.3:7002'), { host: '10.0.0.3', port: 7002 })
  t.strictSame(parseAddress('http://10.0.0.4:8080/raft'), { host: '10.0.0.4', port: 8080 }, 'an http URL: host and port only')
  t.strictSame(parseAddress('http://10.0.0.4'), { host: '10.0.0.4', port: 80 }, "http's default port")
  t.strictSame(parseAddress('[::1]:7001'), { host: '::1', port: 7001 }, 'IPv6')
  for (const bad of ['', 'nohost', '10.0.0.1:0', '10.0.0.1:70000', 'ftp://x:1', ':7001', 'tcp://x:-1']) {
    t.throws(() => parseAddress(bad), TypeError, `refused: ${JSON.stringify(bad)}`)
  }
  t.throws(() => new TcpTransport({ listen: { port: 0 }, clusterId: '' }), TypeError, 'a cluster id is required')
  t.throws(() => new TcpTransport({ listen: { port: -1 }, clusterId: 'c' }), TypeError, 'a port in range')
  t.throws(() => new TcpTransport({ listen: { port: 0 }, clusterId: 'c', maxFrameBytes: 0 }), TypeError, 'positive limits')
  const tr = make(t)
  t.throws(() => tr.addPeer(0, '127.0.0.1:1'), TypeError, 'node 0 is no peer')
  t.throws(() => tr.addPeer(2, 'not an address'), TypeError, 'a bad peer address')
})

t.test('port 0 binds a free port; start binds if listen() was not called', async (t) => {
  const a = make(t)
  const b = make(t, { listen: '127.0.0.1:0' })
  t.throws(() => a.port, TypeError, 'no port before listening')
  const bound = await a.listen()
  t.ok(bound.port > 0, 'a port was picked')
  t.equal(a.port, bound.port)
  t.equal(a.address?.host, '127.0.0.1')
  await b.start(5, new Inbox())
  t.ok(b.port > 0 && b.port !== a.port, 'start() listens too')
  await t.rejects(b.start(5, new Inbox()), TypeError, 'starting twice is a mistake')
})

t.test('a frame over maxFrameBytes closes that connection only, counted', async (t) => {
  const { ta, tb, ib } = await pair(t, {}, { maxFrameBytes: 64 * 1024 })
  const raw = await RawClient.connect(tb.port)
  t.equal(await raw.handshake({ clusterId: CLUSTER, secret: SECRET, from: 1, to: 2 }), 'ready')
  raw.write(frameHeader(FrameKind.Batch, 64 * 1024 + 1))
  await raw.closed
  t.equal(count(tb, 'malformed_frames_total', { reason: 'oversize' }), 1, 'counted as oversize')
  const huge = await RawClient.connect(tb.port)
  t.equal(await huge.handshake({ clusterId: CLUSTER, secret: SECRET, from: 1, to: 2 }), 'ready')
  huge.write(frameHeader(FrameKind.Batch, 0xffffffff))
  await huge.closed
  t.equal(count(tb, 'malformed_frames_total', { reason: 'oversize' }), 2, 'a 4 GiB length prefix is refused before anything is buffered')
  await stillWorks(t, ta, ib, 1)
})

t.test('a sender never sends a frame over the limit: it drops the batch and says so', async (t) => {
  const { ta, ia, ib } = await pair(t, { maxFrameBytes: 64 * 1024 })
  const big = makeMessage({ type: MessageType.App, from: 1, to: 2, term: 1, entries: [{ term: 1, index: 1, type: 0, data: new Uint8Array(100 * 1024) }] })
  ta.send(2, [big])
  await waitFor(() => ia.unreachable.includes(2), 'unreachable(2)')
  t.equal(count(ta, 'dropped_messages_total', { peer: 2 }), 1, 'the message is counted as dropped')
  await stillWorks(t, ta, ib, 2)
  t.notOk(ib.from(1).some((m) => m.entries.length > 0 && m.entries[0].data.byteLength === 100 * 1024), 'the oversized message never arrived')
})

t.test('malformed batches and messages for another node close the connection, counted', async (t) => {
  const { ta, tb, ib } = await pair(t)
  const garbage = await RawClient.connect(tb.port)
  t.equal(await garbage.handshake({ clusterId: CLUSTER, secret: SECRET, from: 1, to: 2 }), 'ready')
  garbage.write(frame(FrameKind.Batch, new Uint8Array([0x92, 0x01, 0x91, 0xc1])))
  await garbage.closed
  t.equal(count(tb, 'malformed_frames_total', { reason: 'decode' }), 1, 'bad msgpack: decode')

  const spoof = await RawClient.connect(tb.port)
  t.equal(await spoof.handshake({ clusterId: CLUSTER, secret: SECRET, from: 1, to: 2 }), 'ready')
  spoof.write(frame(FrameKind.Batch, encodeBatch([appendMessage(3, 2, 0, 77)])))
  await spoof.closed
  t.equal(count(tb, 'malformed_frames_total', { reason: 'addressing' }), 1, 'a message from another node than the link: addressing')

  const unexpected = await RawClient.connect(tb.port)
  t.equal(await unexpected.handshake({ clusterId: CLUSTER, secret: SECRET, from: 1, to: 2 }), 'ready')
  unexpected.write(frame(FrameKind.SnapChunk, new Uint8Array(10)))
  await unexpected.closed
  t.equal(count(tb, 'malformed_frames_total', { reason: 'protocol' }), 1, 'a snapshot chunk out of place: protocol')

  t.notOk(ib.from(1).some((m) => m.commit === 77), 'the spoofed message was not delivered')
  t.notOk(ib.batches.some((b) => b.from === 3), 'nothing delivered as from node 3')
  await stillWorks(t, ta, ib, 3)
})

t.test('the handshake spoken wrongly is refused, counted by reason', async (t) => {
  const { ta, tb, ib } = await pair(t, {}, { handshakeTimeoutMs: 300 })
  const cases: Array<[string, Parameters<RawClient['handshake']>[0], string]> = [
    ['another cluster', { clusterId: 'other', secret: SECRET, from: 1, to: 2 }, 'cluster'],
    ['an unknown node', { clusterId: CLUSTER, secret: SECRET, from: 42, to: 2 }, 'node'],
    ['the wrong target', { clusterId: CLUSTER, secret: SECRET, from: 1, to: 3 }, 'node'],
    ['itself', { clusterId: CLUSTER, secret: SECRET, from: 2, to: 2 }, 'node'],
    ['the wrong secret', { clusterId: CLUSTER, secret: 'guess', from: 1, to: 2 }, 'secret'],
    ['no proof at all', { clusterId: CLUSTER, from: 1, to: 2 }, 'secret'],
  ]
  for (const [what, hello, reason] of cases) {
    const before = count(tb, 'refused_total', { reason })
    const raw = await RawClient.connect(tb.port)
    t.equal(await raw.handshake(hello), reason, `${what}: refused, the reason given`)
    await raw.closed
    t.equal(count(tb, 'refused_total', { reason }), before + 1, `${what}: counted`)
  }
  const bad = await RawClient.connect(tb.port)
  bad.write(frame(FrameKind.Hello, new Uint8Array([0xc1])))
  await bad.closed
  t.equal(count(tb, 'refused_total', { reason: 'protocol' }), 1, 'a hello that is not msgpack: protocol')
  const early = await RawClient.connect(tb.port)
  early.write(frame(FrameKind.Batch, encodeBatch([heartbeat(1, 2)])))
  await early.closed
  t.equal(count(tb, 'refused_total', { reason: 'protocol' }), 2, 'a batch before the handshake: protocol')
  const silent = await RawClient.connect(tb.port)
  await silent.closed
  t.equal(count(tb, 'refused_total', { reason: 'timeout' }), 1, 'no hello in time: closed, counted')
  t.equal(ib.from(1).length, 0, 'nothing was delivered from any of them')
  await stillWorks(t, ta, ib, 4)
})

t.test('a dialer checks the acceptor too', async (t) => {
  // Node 2's address leads to a node that does not know the secret.
  const impostor = make(t, { secret: 'not the secret' })
  await impostor.listen()
  impostor.addPeer(1, '127.0.0.1:1')
  await impostor.start(2, new Inbox())
  const a = make(t)
  a.addPeer(2, `127.0.0.1:${impostor.port}`)
  const ia = new Inbox()
  await a.start(1, ia)
  await waitFor(() => {
    a.send(2, [heartbeat(1, 2)])
    return count(a, 'refused_total', { reason: 'secret' }) > 0
  }, 'the dialer to refuse')
  t.ok(ia.unreachable.includes(2), 'the peer is reported unreachable')
  t.equal(count(impostor, 'received_messages_total', { peer: 1 }), 0, 'the impostor got nothing')
  t.ok(count(a, 'dropped_messages_total', { peer: 2 }) > 0, 'messages dropped, counted')
})

t.test('a full queue drops and reports; a peer that is down is retried with backoff', async (t) => {
  // A server that accepts and never answers: the link stays in its handshake, the queue fills.
  const sockets = new Set<Socket>()
  const mute = createServer((s) => {
    sockets.add(s)
    s.on('error', () => {})
  })
  await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r))
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    await new Promise((r) => mute.close(r))
  })
  const port = (mute.address() as { port: number }).port
  const a = make(t, { queueLimit: 10, dialTimeoutMs: 200, backoffMinMs: 10, backoffMaxMs: 40 })
  a.addPeer(2, `127.0.0.1:${port}`)
  const ia = new Inbox()
  await a.start(1, ia)
  for (let i = 0; i < 25; i++) a.send(2, [heartbeat(1, 2)])
  t.equal(count(a, 'dropped_messages_total', { peer: 2 }), 15, 'what did not fit is dropped and counted')
  await waitFor(() => ia.unreachable.includes(2), 'unreachable(2)')
  t.pass('and the node is told')
  await waitFor(() => {
    a.send(2, [heartbeat(1, 2)])
    return count(a, 'reconnects_total', { peer: 2 }) >= 3
  }, 'reconnection attempts')
  t.ok(count(a, 'reconnects_total', { peer: 2 }) >= 3, 'the link keeps retrying (counted)')
})

t.test('removePeer closes its links and refuses it from then on', async (t) => {
  const { ta, tb, ib } = await pair(t)
  await stillWorks(t, ta, ib, 5)
  tb.removePeer(1)
  const before = count(tb, 'refused_total', { reason: 'node' })
  await waitFor(() => {
    ta.send(2, [heartbeat(1, 2)])
    return count(tb, 'refused_total', { reason: 'node' }) > before
  }, 'node 1 to be refused')
  t.pass('a removed peer is refused')
  const n = ib.from(1).length
  ta.send(2, [appendMessage(1, 2, 0, 6)])
  tb.addPeer(1, `127.0.0.1:${ta.port}`)
  await stillWorks(t, ta, ib, 7)
  t.ok(ib.from(1).length > n, 'known again after addPeer')
})

t.test('a snapshot over maxSnapshotBytes is refused; the link for batches is unaffected', async (t) => {
  const { ta, tb, ia, ib } = await pair(t, {}, { maxSnapshotBytes: 1024 * 1024 })
  const snap = makeMessage({
    type: MessageType.Snap,
    from: 1,
    to: 2,
    term: 1,
    snapshot: { metadata: { index: 10, term: 1, confState: { voters: [1, 2], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } }, data: new Uint8Array(2 * 1024 * 1024) },
  })
  ta.send(2, [snap])
  await waitFor(() => count(tb, 'malformed_frames_total', { reason: 'oversize' }) === 1, 'the refusal')
  await waitFor(() => ia.unreachable.includes(2), 'the sender to learn of it')
  t.notOk(ib.batches.some((b) => b.messages.some((m) => m.type === MessageType.Snap)), 'not delivered')
  await stillWorks(t, ta, ib, 8)
  const small = { ...snap, snapshot: { ...snap.snapshot!, data: new Uint8Array(3000).fill(9) } }
  ta.send(2, [small, heartbeat(1, 2)])
  await waitFor(() => ib.batches.some((b) => b.messages.some((m) => m.type === MessageType.Snap)), 'a snapshot within the limit')
  const got = ib.batches.flatMap((b) => [...b.messages]).find((m) => m.type === MessageType.Snap)!
  t.equal(got.snapshot!.data.byteLength, 3000, 'delivered whole')
  t.equal(got.snapshot!.data[2999], 9)
})

t.test('metrics render in the Prometheus text format', async (t) => {
  const { ta, ib } = await pair(t)
  await stillWorks(t, ta, ib, 9)
  const text = ta.metrics.render()
  for (const name of ['sent_messages_total', 'sent_bytes_total', 'received_messages_total', 'dropped_messages_total', 'refused_total', 'reconnects_total', 'malformed_frames_total']) {
    t.match(text, new RegExp(`# TYPE metastore_transport_${name} counter`), name)
  }
  t.match(text, /metastore_transport_sent_messages_total\{peer="2"\} [1-9]/, 'messages sent to node 2 are counted')
})

t.test('TLS, and mutual TLS refuses a client without a certificate', async (t) => {
  const pem = selfSignedCert()
  if ('skip' in pem) {
    t.skip(`TLS: skipped, ${pem.skip}`, () => {})
    return
  }
  const tls = { key: pem.key, cert: pem.cert, ca: pem.cert, mutual: true }
  const { ta, tb, ib } = await pair(t, { tls }, { tls })
  await stillWorks(t, ta, ib, 10)
  // A client with the CA but no certificate of its own.
  const noCert = new TcpTransport({ listen: { host: '127.0.0.1', port: 0 }, clusterId: CLUSTER, secret: SECRET, tls: { key: '', cert: '', ca: pem.cert } as never, dialTimeoutMs: 1000 })
  t.teardown(() => noCert.close())
  noCert.addPeer(2, `tls://127.0.0.1:${tb.port}`)
  const inbox = new Inbox()
  await noCert.start(1, inbox)
  const before = count(tb, 'refused_total', { reason: 'tls' })
  await waitFor(() => {
    noCert.send(2, [appendMessage(1, 2, 0, 11)])
    return count(tb, 'refused_total', { reason: 'tls' }) > before
  }, 'the TLS refusal')
  t.pass('refused at the TLS layer, counted')
  t.notOk(ib.from(1).some((m) => m.commit === 11), 'nothing it sent arrived')
  // Plain TCP to a TLS port gets nowhere either.
  const plain = await RawClient.connect(tb.port)
  plain.write(frame(FrameKind.Hello, new Uint8Array(10)))
  await plain.closed
  t.pass('a plain TCP client is cut off')
})
