/**
 * Throughput of each transport between two nodes in one process: node 1 streams appends (each
 * with a few entries) to node 2, keeping a window of batches in flight. Prints one JSON line per
 * transport: messages/s, and MB/s of entry payload and of wire bytes (where the transport counts
 * them). In-process is the ceiling of the harness itself; TCP and HTTP run over loopback.
 *
 *   npm run bench -- transport [--seconds 3] [--entries 4] [--size 256] [--batch 16] [--window 64]
 */
import { parseArgs } from 'node:util'
import { Metrics } from '../lib/metrics.js'
import { EntryType, makeMessage, MessageType, type Message, type NodeId } from '../lib/raft/types.js'
import { InProcessNetwork } from '../transports/inprocess.js'
import { TcpTransport } from '../transports/tcp.js'
import type { Transport, TransportHandler } from '../transports/transport.js'

interface Pair {
  readonly name: string
  readonly a: Transport
  readonly b: Transport
  readonly metrics?: Metrics
  close(): Promise<void>
}

interface NetworkTransport extends Transport {
  listen(): Promise<unknown>
  readonly port: number | undefined
}

type NetworkTransportClass = new (options: { listen: { host: string; port: number }; clusterId: string; secret?: string; metrics?: Metrics }) => NetworkTransport

async function networkPair(name: string, Ctor: NetworkTransportClass, scheme: string): Promise<Pair> {
  const metrics = new Metrics()
  const a = new Ctor({ listen: { host: '127.0.0.1', port: 0 }, clusterId: 'bench', secret: 'bench-secret', metrics })
  const b = new Ctor({ listen: { host: '127.0.0.1', port: 0 }, clusterId: 'bench', secret: 'bench-secret' })
  await a.listen()
  await b.listen()
  a.addPeer(2, `${scheme}://127.0.0.1:${b.port}`)
  b.addPeer(1, `${scheme}://127.0.0.1:${a.port}`)
  return {
    name,
    a,
    b,
    metrics,
    async close() {
      await a.close()
      await b.close()
    },
  }
}

async function pairs(): Promise<Pair[]> {
  const out: Pair[] = []
  const net = new InProcessNetwork({ fifo: true })
  out.push({
    name: 'inprocess',
    a: net.transport(),
    b: net.transport(),
    async close() {
      net.close()
    },
  })
  out.push(await networkPair('tcp', TcpTransport as unknown as NetworkTransportClass, 'tcp'))
  // The HTTP transport is optional here: measured when it is part of the build.
  const httpModule = '../transports/http.js'
  try {
    const { HttpTransport } = (await import(httpModule)) as { HttpTransport: NetworkTransportClass }
    out.push(await networkPair('http', HttpTransport, 'http'))
  } catch (err) {
    console.error(`http: not measured (${(err as Error).message})`)
  }
  return out
}

async function run(pair: Pair, o: { seconds: number; entries: number; size: number; batch: number; window: number }): Promise<Record<string, unknown>> {
  const payload = new Uint8Array(o.size).fill(7)
  const batch = (seq: number): Message[] => {
    const out: Message[] = []
    for (let i = 0; i < o.batch; i++) {
      const index = (seq * o.batch + i) * o.entries
      const entries = Array.from({ length: o.entries }, (_, k) => ({ term: 1, index: index + k + 1, type: EntryType.Normal, data: payload }))
      out.push(makeMessage({ type: MessageType.App, from: 1, to: 2, term: 1, logTerm: 1, index, commit: index, entries }))
    }
    return out
  }
  let received = 0
  let sentBatches = 0
  let unreachable = 0
  let wake: (() => void) | undefined
  const receiver: TransportHandler = {
    onMessages: (_from: NodeId, messages) => {
      received += messages.length
      wake?.()
    },
    onUnreachable: () => {},
  }
  const sender: TransportHandler = { onMessages: () => {}, onUnreachable: () => void unreachable++ }
  await pair.a.start(1, sender)
  await pair.b.start(2, receiver)
  // Warm up: the connection and its handshake are not part of the figure.
  pair.a.send(2, batch(0))
  while (received < o.batch) await new Promise<void>((r) => (wake = r))
  received = 0
  const start = performance.now()
  const until = start + o.seconds * 1000
  while (performance.now() < until) {
    while (sentBatches * o.batch - received < o.window * o.batch) pair.a.send(2, batch(++sentBatches))
    await new Promise<void>((r) => {
      wake = r
      // Lost batches (dropped by a full queue) must not stall the loop.
      setTimeout(r, 50)
    })
  }
  const seconds = (performance.now() - start) / 1000
  const wire = pair.metrics?.counter('metastore_transport_sent_bytes_total', '').get({ peer: 2 })
  await pair.close()
  return {
    transport: pair.name,
    seconds: Number(seconds.toFixed(2)),
    messages: received,
    messagesPerSecond: Math.round(received / seconds),
    entriesPerSecond: Math.round((received * o.entries) / seconds),
    payloadMBps: Number(((received * o.entries * o.size) / seconds / 1e6).toFixed(1)),
    wireMBps: wire === undefined ? undefined : Number((wire / seconds / 1e6).toFixed(1)),
    unreachable,
  }
}

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      seconds: { type: 'string', default: '3' },
      entries: { type: 'string', default: '4' },
      size: { type: 'string', default: '256' },
      batch: { type: 'string', default: '16' },
      window: { type: 'string', default: '64' },
    },
  })
  const o = { seconds: Number(values.seconds), entries: Number(values.entries), size: Number(values.size), batch: Number(values.batch), window: Number(values.window) }
  for (const pair of await pairs()) console.log(JSON.stringify({ ...(await run(pair, o)), entries: o.entries, size: o.size, batch: o.batch }))
}
