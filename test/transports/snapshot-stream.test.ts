// Streamed snapshots at the edges: chunks over the limit, broken streams, the receiver's queue.
import http from 'node:http'
import t, { type Test } from 'tap'
import type { NodeId } from '../../lib/raft/types.js'
import { HttpTransport } from '../../transports/http.js'
import { lengthPrefix, packControl, SESSION_HEADER, unpackControl } from '../../transports/http-protocol.js'
import { ChunkQueue, STREAM_HIGH_WATER } from '../../transports/snapshot-stream.js'
import { TcpTransport } from '../../transports/tcp.js'
import { FrameKind, frame, frameHeader } from '../../transports/tcp-frames.js'
import type { Transport, TransportHandler } from '../../transports/transport.js'
import { encodeBatch } from '../../transports/wire.js'
import { Inbox, waitFor } from './conformance.js'
import { recordStream, snapMessage } from './conformance-stream.js'
import { RawClient } from './tcp-raw-client.js'

const CLUSTER = 'stream'

async function* chunks(sizes: readonly number[]): AsyncIterable<Uint8Array> {
  for (const n of sizes) yield new Uint8Array(n)
}

/** A node's handler that records what its stream brought, and how it ended. */
function streamInbox(): { box: Inbox; got: Uint8Array[]; error: () => unknown } {
  const box = new Inbox()
  return { box, ...recordStream(box) }
}

async function tcpPair(t: Test, limit: number): Promise<{ a: TcpTransport; b: TcpTransport; box: Inbox; got: Uint8Array[]; error: () => unknown }> {
  const a = new TcpTransport({ listen: { port: 0 }, clusterId: CLUSTER, maxFrameBytes: limit })
  const b = new TcpTransport({ listen: { port: 0 }, clusterId: CLUSTER, maxFrameBytes: limit })
  t.teardown(() => a.close())
  t.teardown(() => b.close())
  await a.listen()
  await b.listen()
  a.addPeer(2, `127.0.0.1:${b.port}`)
  b.addPeer(1, `127.0.0.1:${a.port}`)
  const s = streamInbox()
  await a.start(1, new Inbox())
  await b.start(2, s.box)
  return { a, b, ...s }
}

async function httpPair(t: Test, limit?: number): Promise<{ a: HttpTransport; b: HttpTransport; box: Inbox; got: Uint8Array[]; error: () => unknown }> {
  const limits = limit === undefined ? {} : { maxBodyBytes: limit }
  const a = new HttpTransport({ listen: { port: 0 }, clusterId: CLUSTER, ...limits })
  const b = new HttpTransport({ listen: { port: 0 }, clusterId: CLUSTER, ...limits })
  t.teardown(() => a.close())
  t.teardown(() => b.close())
  await a.listen()
  await b.listen()
  a.addPeer(2, `http://127.0.0.1:${b.port}`)
  b.addPeer(1, `http://127.0.0.1:${a.port}`)
  const s = streamInbox()
  await a.start(1, new Inbox())
  await b.start(2, s.box)
  return { a, b, ...s }
}

for (const [name, pair] of [
  ['tcp', tcpPair],
  ['http', httpPair],
] as const) {
  t.test(`${name}: a chunk over the limit makes sendSnapshot reject`, async (t) => {
    const limit = 64 * 1024
    const { a, got, error } = await pair(t, limit)
    await t.rejects((a as Transport).sendSnapshot!(2, snapMessage(1, 2), chunks([10, limit, limit + 1, 5])), { code: 'TOO_LARGE' }, 'a TooLargeError')
    await waitFor(() => error() !== undefined, 'the receiver’s iterable to throw')
    t.strictSame(
      got.map((c) => c.byteLength),
      [10, limit],
      'the chunks before it arrived; the stream broke there',
    )
    await (a as Transport).sendSnapshot!(2, snapMessage(1, 2), chunks([limit, 0, 1]))
    t.pass('a chunk of exactly the limit goes, and the peer takes streams again')
  })
}

t.test('tcp: a malformed frame mid-stream makes the receiver’s iterable throw', async (t) => {
  const b = new TcpTransport({ listen: { port: 0 }, clusterId: CLUSTER })
  t.teardown(() => b.close())
  await b.listen()
  b.addPeer(1, '127.0.0.1:1')
  const s = streamInbox()
  await b.start(2, s.box)
  const raw = await RawClient.connect(b.port)
  t.teardown(() => raw.close())
  t.equal(await raw.handshake({ clusterId: CLUSTER, from: 1, to: 2 }), 'ready', 'handshake')
  raw.write(frame(FrameKind.StreamBegin, encodeBatch([snapMessage(1, 2)])))
  raw.write(frame(FrameKind.StreamChunk, new Uint8Array(100)))
  // A batch inside a stream breaks the protocol.
  raw.write(frame(FrameKind.Batch, encodeBatch([])))
  await waitFor(() => s.error() !== undefined, 'the receiver’s iterable to throw')
  t.equal((s.error() as { code?: string }).code, 'MALFORMED', 'a MalformedError')
  t.equal(s.got.length, 1, 'after the chunk before it')
  await raw.closed
  t.pass('the connection is closed')
})

t.test('tcp: a StreamBegin claiming another sender is refused before the node sees it', async (t) => {
  const b = new TcpTransport({ listen: { port: 0 }, clusterId: CLUSTER })
  t.teardown(() => b.close())
  await b.listen()
  b.addPeer(1, '127.0.0.1:1')
  b.addPeer(3, '127.0.0.1:1')
  let calls = 0
  const box = new Inbox()
  ;(box as TransportHandler).onSnapshot = async () => {
    calls++
  }
  await b.start(2, box)
  const raw = await RawClient.connect(b.port)
  t.teardown(() => raw.close())
  t.equal(await raw.handshake({ clusterId: CLUSTER, from: 1, to: 2 }), 'ready', 'handshake')
  raw.write(frame(FrameKind.StreamBegin, encodeBatch([snapMessage(3, 2)])))
  raw.write(frameHeader(FrameKind.StreamEnd, 0))
  await raw.closed
  t.equal(calls, 0, 'the handler was not called')
  t.equal(b.metrics.counter('metastore_transport_malformed_frames_total', '').get({ reason: 'addressing' }), 1, 'counted as misaddressed')
})

t.test('http: a body cut before its end marker makes the receiver’s iterable throw', async (t) => {
  const { b, ...s } = await httpPair(t)
  // A session (no secret: the handshake gives it at once).
  const token = await new Promise<string>((resolve, reject) => {
    const req = http.request({ port: b.port, host: '127.0.0.1', method: 'POST', path: '/raft/handshake' }, (res) => {
      const parts: Buffer[] = []
      res.on('data', (c: Buffer) => parts.push(c))
      res.on('end', () => {
        const v = unpackControl(Buffer.concat(parts))
        if (typeof v.token === 'string') resolve(v.token)
        else reject(new Error('no token'))
      })
    })
    req.on('error', reject)
    req.end(packControl({ v: 1, cluster: CLUSTER, from: 1, to: 2, nonce: new Uint8Array(16).fill(3) }))
  })
  const batch = encodeBatch([snapMessage(1, 2)])
  const status = await new Promise<number>((resolve) => {
    const req = http.request({ port: b.port, host: '127.0.0.1', method: 'POST', path: '/raft/snapshot-stream', headers: { [SESSION_HEADER]: token, 'transfer-encoding': 'chunked' } }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', () => resolve(0))
    req.write(lengthPrefix(batch.byteLength))
    req.write(batch)
    req.write(lengthPrefix(3))
    req.write(new Uint8Array(3))
    req.end()
  })
  await waitFor(() => s.error() !== undefined, 'the receiver’s iterable to throw')
  t.equal((s.error() as { code?: string }).code, 'MALFORMED', 'a MalformedError')
  t.equal(status, 400, 'answered 400')
})

t.test('ChunkQueue: pauses past the high water mark, resumes when pulled, reads once', async (t) => {
  const events: string[] = []
  const q = new ChunkQueue(1 as NodeId, {
    pause: () => events.push('pause'),
    resume: () => events.push('resume'),
    abandoned: () => events.push('abandoned'),
    stalled: () => events.push('stalled'),
  })
  // Each chunk counts for its bytes and a small overhead (64 bytes).
  const big = new Uint8Array(STREAM_HIGH_WATER / 2 - 64)
  q.push(big)
  q.push(big)
  t.strictSame(events, [], 'not paused at the mark')
  q.push(new Uint8Array(1))
  t.strictSame(events, ['pause'], 'paused past it')
  const it = q[Symbol.asyncIterator]()
  t.throws(() => q[Symbol.asyncIterator](), TypeError, 'iterated once only')
  t.equal((await it.next()).value, big, 'the first chunk')
  t.strictSame(events, ['pause', 'resume'], 'resumed once under the mark')
  q.end()
  await it.next()
  await it.next()
  t.equal((await it.next()).done, true, 'then the end')
  t.ok(q.complete, 'complete')
  q.fail(new Error('late'))
  t.equal((await it.next()).done, true, 'a failure after completion changes nothing')
})
