// Hostile input against a node of a running 3-node cluster on TcpTransport: 100,000 random and
// mutated frames over many connections (random bytes, valid length prefixes with garbage,
// truncated frames, huge length prefixes, bad hellos, valid handshakes followed by mutated
// batches, messages claiming to be from another node). The node must keep serving and the
// cluster keep committing, during and after.
//
// NB: an authenticated peer is trusted (Raft does not tolerate Byzantine members): a mutated batch
// that still decodes, and is addressed as the link says, is replaced by one that claims another
// sender, so that everything the fuzzer sends is something the transport itself must refuse.
import t from 'tap'
import { createNode, type MetastoreNode } from '../../lib/node/create-node.js'
import { SeededRng } from '../../lib/raft/rng.js'
import { EntryType, makeMessage, MessageType, type Message } from '../../lib/raft/types.js'
import { memoryStorage } from '../../lib/storage/memory-engine.js'
import { TcpTransport } from '../../transports/tcp.js'
import { FrameKind, frame, frameHeader, packControl } from '../../transports/tcp-frames.js'
import { decodeBatch, encodeBatch, WIRE_VERSION } from '../../transports/wire.js'
import { waitFor } from './conformance.js'
import { RawClient } from './tcp-raw-client.js'

const CLUSTER = 'fuzz'
const SECRET = 'fuzz-secret'
const FRAMES = Number(process.env.FUZZ_FRAMES ?? 100_000)
const WORKERS = 32
const MAX_FRAME = 256 * 1024

function randomBytes(rng: SeededRng, max: number): Uint8Array {
  const b = new Uint8Array(1 + rng.int(max))
  for (let i = 0; i < b.length; i++) b[i] = rng.int(256)
  return b
}

/** Realistic batches from node 2 to node 1, to mutate. */
function sampleBatches(): Uint8Array[] {
  const e = (i: number) => ({ term: 3, index: i, type: EntryType.Normal, data: new TextEncoder().encode(`value ${i}`) })
  const batches: Message[][] = [
    [makeMessage({ type: MessageType.App, from: 2, to: 1, term: 3, logTerm: 3, index: 10, commit: 9, entries: [e(11), e(12)] })],
    [makeMessage({ type: MessageType.AppResp, from: 2, to: 1, term: 3, index: 12 })],
    [makeMessage({ type: MessageType.Heartbeat, from: 2, to: 1, term: 3, commit: 12 }), makeMessage({ type: MessageType.HeartbeatResp, from: 2, to: 1, term: 3 })],
    [makeMessage({ type: MessageType.Vote, from: 2, to: 1, term: 4, logTerm: 3, index: 12 })],
    [makeMessage({ type: MessageType.ReadIndex, from: 2, to: 1, term: 3, context: new Uint8Array([1, 2, 3]) })],
    [
      makeMessage({
        type: MessageType.Snap,
        from: 2,
        to: 1,
        term: 3,
        snapshot: { metadata: { index: 50, term: 3, confState: { voters: [1, 2, 3], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } }, data: new Uint8Array(0) },
      }),
    ],
  ]
  return batches.map((b) => encodeBatch(b))
}

/** A mutated batch that the transport must refuse (see the note at the top). */
function hostileBatch(rng: SeededRng, samples: Uint8Array[]): Uint8Array {
  const b = new Uint8Array(samples[rng.int(samples.length)])
  switch (rng.int(4)) {
    case 0:
      for (let k = 1 + rng.int(4); k > 0; k--) b[rng.int(b.length)] = rng.int(256)
      break
    case 1:
      b[rng.int(b.length)] ^= 1 << rng.int(8)
      break
    case 2:
      return b.subarray(0, rng.int(b.length))
    default: {
      const at = rng.int(b.length)
      const out = new Uint8Array(b.length + 4)
      out.set(b.subarray(0, at))
      out.set(randomBytes(rng, 4).subarray(0, 4), at)
      out.set(b.subarray(at), at + 4)
      return out
    }
  }
  try {
    const ms = decodeBatch(b)
    if (ms.every((m) => m.from === 2 && m.to === 1)) {
      // Still a valid batch from the link's own peer: make it claim another sender instead.
      return encodeBatch(ms.length > 0 ? ms.map((m) => ({ ...m, from: 3 })) : [makeMessage({ type: MessageType.Heartbeat, from: 3, to: 1, term: 1 })])
    }
  } catch {
    // Refused by the decoder: what we want.
  }
  return b
}

const EMPTY_BATCH = frame(FrameKind.Batch, encodeBatch([]))

interface Tally {
  frames: number
  connections: number
}

// Valid empty batches sent on authenticated links before their hostile frame: they make the
// target parse long runs of frames on one connection, and are counted apart.
let harmless = 0

/** One hostile connection; returns how many frames it wrote. */
async function attack(port: number, rng: SeededRng, samples: Uint8Array[]): Promise<number> {
  let raw: RawClient
  try {
    raw = await RawClient.connect(port)
  } catch {
    return 0
  }
  let frames = 0
  const send = (bytes: Uint8Array) => {
    raw.write(bytes)
    frames++
  }
  try {
    const kind = rng.int(10)
    if (kind === 0) {
      // Random bytes.
      for (let k = 1 + rng.int(16); k > 0; k--) send(randomBytes(rng, 200))
    } else if (kind === 1) {
      // Valid length prefixes, garbage payloads, any kind.
      for (let k = 1 + rng.int(16); k > 0; k--) {
        const p = randomBytes(rng, 200)
        const h = frameHeader(rng.int(12) as FrameKind, p.byteLength)
        if (rng.chance(0.5)) h[4] = rng.int(256)
        send(Buffer.concat([h, p]))
      }
    } else if (kind === 2) {
      // A truncated hello, then the connection ends.
      const hello = frame(FrameKind.Hello, packControl({ v: WIRE_VERSION, cluster: CLUSTER, from: 2, to: 1, nonce: new Uint8Array(16) }))
      send(hello.subarray(0, rng.int(hello.length)))
    } else if (kind === 3) {
      // A huge length prefix.
      send(Buffer.concat([frameHeader(rng.chance(0.5) ? FrameKind.Hello : FrameKind.Batch, MAX_FRAME + 1 + rng.int(0xffffffff - MAX_FRAME - 1)), randomBytes(rng, 100)]))
    } else if (kind === 4) {
      // A hello that is wrong in one way.
      const hello: Record<string, unknown> = { v: WIRE_VERSION, cluster: CLUSTER, from: 2, to: 1, nonce: new Uint8Array(16) }
      const which = rng.int(5)
      if (which === 0) hello.cluster = 'another'
      if (which === 1) hello.from = 1000 + rng.int(1000)
      if (which === 2) hello.to = 2
      if (which === 3) hello.nonce = randomBytes(rng, 40)
      if (which === 4) hello.v = rng.int(1000)
      send(frame(FrameKind.Hello, packControl(hello)))
      await raw.closed
    } else if (kind === 5) {
      // The right hello, the wrong secret.
      frames += 2
      await raw.handshake({ clusterId: CLUSTER, secret: 'guess', from: 2, to: 1 })
    } else {
      // A valid handshake as node 2, harmless empty batches, then one hostile frame.
      frames += 2
      if ((await raw.handshake({ clusterId: CLUSTER, secret: SECRET, from: 2, to: 1 })) !== 'ready') return frames
      for (let k = rng.int(16); k > 0; k--) {
        send(EMPTY_BATCH)
        harmless++
      }
      const hostile = rng.int(8)
      if (hostile <= 3) send(frame(FrameKind.Batch, hostileBatch(rng, samples)))
      else if (hostile === 4) send(frame(FrameKind.Batch, encodeBatch([makeMessage({ type: MessageType.Vote, from: 3, to: 1, term: 1_000_000 })])))
      else if (hostile === 5) send(frameHeader(FrameKind.Batch, MAX_FRAME + 1))
      else if (hostile === 6) send(frame(rng.chance(0.5) ? FrameKind.SnapChunk : FrameKind.Hello, randomBytes(rng, 50)))
      else {
        const begin = Buffer.alloc(8)
        begin.writeUInt32BE(1, 0) // 4 GiB: over maxSnapshotBytes
        send(frame(FrameKind.SnapBegin, Buffer.concat([begin, samples[5]])))
      }
    }
    raw.socket.end()
    await Promise.race([raw.closed, new Promise((r) => setTimeout(r, 2000))])
  } finally {
    raw.close()
  }
  return frames
}

t.test('a node fed 100,000 random and mutated frames keeps serving; the cluster keeps committing', async (t) => {
  const transports = [1, 2, 3].map(
    () =>
      new TcpTransport({
        listen: { host: '127.0.0.1', port: 0 },
        clusterId: CLUSTER,
        secret: SECRET,
        maxFrameBytes: MAX_FRAME,
        maxSnapshotBytes: 16 * 1024 * 1024,
        handshakeTimeoutMs: 2000,
      }),
  )
  const nodes: MetastoreNode<number>[] = []
  t.teardown(async () => {
    for (const n of nodes) await n.close()
    for (const tr of transports) await tr.close()
  })
  for (const tr of transports) await tr.listen()
  transports.forEach((tr, i) => transports.forEach((other, j) => i !== j && tr.addPeer(j + 1, `127.0.0.1:${other.port}`)))
  for (const id of [1, 2, 3]) {
    nodes.push(await createNode<number>({ id, peers: [1, 2, 3], storage: await memoryStorage(), transport: transports[id - 1], tickMs: 20, requestTimeoutMs: 5000 }))
  }
  await nodes[0].waitForLeader()
  const target = transports[0]

  // Writes through the attacked node all along.
  let stop = false
  let committed = 0
  let failed = 0
  let last = 0
  const writer = (async () => {
    for (let i = 1; !stop; i++) {
      try {
        await nodes[0].kv.put('fuzz/counter', i)
        committed++
        last = i
      } catch {
        failed++
      }
    }
  })()

  const samples = sampleBatches()
  const tally: Tally = { frames: 0, connections: 0 }
  const started = performance.now()
  await Promise.all(
    Array.from({ length: WORKERS }, async (_, w) => {
      const rng = new SeededRng(1000 + w)
      while (tally.frames < FRAMES) {
        // NB: not `tally.frames += await ...`, which would read the tally before the await.
        const n = await attack(target.port, rng, samples)
        tally.frames += n
        tally.connections++
      }
    }),
  )
  const fuzzMs = performance.now() - started
  const duringFuzz = committed
  const c = (name: string, labels?: Record<string, string | number>) => target.metrics.counter(`metastore_transport_${name}`, '').get(labels)
  const judged = c('refused_total', { reason: 'protocol' }) + c('refused_total', { reason: 'cluster' }) + c('refused_total', { reason: 'node' }) + c('refused_total', { reason: 'secret' }) + c('refused_total', { reason: 'timeout' })
  const closed = judged + ['oversize', 'decode', 'addressing', 'protocol'].reduce((n, reason) => n + c('malformed_frames_total', { reason }), 0)
  t.ok(
    tally.frames >= FRAMES,
    `${tally.frames} frames fed over ${tally.connections} connections in ${Math.round(fuzzMs)} ms: ${tally.frames - harmless} random, mutated or misplaced (a connection is cut at its first bad frame: the rest of a burst goes unread), ${harmless} valid empty batches between them; ${closed} connections refused or closed for what they sent`,
  )
  t.ok(duringFuzz > 0, `the cluster committed during the attack (${duringFuzz} puts through the attacked node, ${failed} failed)`)

  // And after it.
  await waitFor(() => committed >= duringFuzz + 20, '20 more puts after the attack', 30_000)
  stop = true
  await writer
  const got = await nodes[0].kv.get('fuzz/counter')
  t.equal(got?.value, last, 'a linearizable read on the attacked node sees the last write')
  const other = await nodes[2].kv.get('fuzz/counter')
  t.equal(other?.value, last, 'and so does another node')
  t.ok(nodes[0].status().leader > 0, 'a leader is known')

  for (const reason of ['protocol', 'cluster', 'node', 'secret']) t.ok(c('refused_total', { reason }) > 0, `refusals counted: ${reason} (${c('refused_total', { reason })})`)
  for (const reason of ['oversize', 'decode', 'addressing', 'protocol']) t.ok(c('malformed_frames_total', { reason }) > 0, `malformed frames counted: ${reason} (${c('malformed_frames_total', { reason })})`)
  // A follower hears the leader only; a leader hears every follower.
  const leader = nodes[0].status().leader
  for (const peer of leader === 1 ? [2, 3] : [leader]) t.ok(c('received_messages_total', { peer }) > 0, `the real peers are still heard (node ${peer})`)
})
