/**
 * A metastore member as a child process of the benchmark: LevelDB storage (synced writes, the
 * default), the TCP transport on loopback, and the library API. The load of the embedded
 * scenario runs here, in the member's own process, when the parent asks; so do the bulk fill of
 * the large data sets and the probes of the recovery and memory scenarios.
 *
 * Started by `node-cluster.ts` with `BENCH_NODE` set to a {@link NodeConfig}.
 *
 * @module
 */
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { performance } from 'node:perf_hooks'
import { createNode, type MetastoreNode, type TxnRequestOp } from '../../lib/node/create-node.js'
import type { LevelLogStore } from '../../lib/storage/level-log-store.js'
import { levelStorage } from '../../lib/storage/level-engine.js'
import { memoryStorage } from '../../lib/storage/memory-engine.js'
import { InProcessNetwork } from '../../transports/inprocess.js'
import type { RaftLogger } from '../../lib/raft/logger.js'
import type { Transport } from '../../transports/transport.js'
import type { ChildMessage, ChildStatus, NodeConfig, ParentMessage } from './node-protocol.js'
import { closedLoop, firstAck, keyOf, primeKeys, VALUE_BYTES_ARRAY, type LoadSpec, type OpName } from './workload.js'

const modulesLoadedMs = performance.now()

/** Values are stored as the bytes given (no encoding), as etcd stores them. */
const bytesCodec = { encode: (v: Uint8Array): Uint8Array => v, decode: (b: Uint8Array): Uint8Array => b }

type TcpTransportClass = new (options: { listen: { host: string; port: number }; clusterId: string; logger?: RaftLogger }) => Transport

/** `BENCH_LOG=1` prints the member's warnings and errors (and, with `BENCH_LOG=info`, its info lines). */
function loggerFor(id: number): RaftLogger | undefined {
  const level = process.env.BENCH_LOG
  if (!level) return undefined
  const line = (tag: string) => (message: string) => process.stderr.write(`[member ${id}] ${tag} ${message}\n`)
  return { debug() {}, info: level === 'info' ? line('info') : () => {}, warn: line('warn'), error: line('error') }
}
// Loaded by name at run time: the benchmark compiles whether or not the TCP transport is built.
const TCP_MODULE = '../../transports/tcp.js'

function send(message: ChildMessage): void {
  process.send?.(message)
}

async function transportFor(config: NodeConfig): Promise<Transport> {
  if (config.listenPort === undefined) return new InProcessNetwork().transport()
  const { TcpTransport } = (await import(TCP_MODULE)) as { TcpTransport: TcpTransportClass }
  const logger = loggerFor(config.id)
  return new TcpTransport({ listen: { host: '127.0.0.1', port: config.listenPort }, clusterId: config.clusterId, ...(logger ? { logger } : {}) })
}

/** The four operations of the matrix on the library API. */
function opFor(node: MetastoreNode<Uint8Array>, op: OpName): (key: string) => Promise<unknown> {
  switch (op) {
    case 'put':
      return (key) => node.kv.put(key, VALUE_BYTES_ARRAY)
    case 'get':
      return (key) => node.kv.get(key)
    case 'get-serializable':
      return (key) => node.kv.get(key, { serializable: true })
    case 'txn-cas':
      return (key) =>
        node.kv.txn({
          compare: [{ key, target: 'value', op: '=', value: VALUE_BYTES_ARRAY }],
          success: [{ put: { key, value: VALUE_BYTES_ARRAY } }],
          failure: [{ get: { key } }],
        }).then((r) => {
          // The workload's compare always holds: a failure branch means the systems do different work.
          if (!r.succeeded) throw new Error('the compare-and-set took its failure branch')
        })
  }
}

/** Writes `keys` keys (`fill-0000000042`) in transactions of `batch` puts, `inFlight` at a time. */
async function fill(node: MetastoreNode<Uint8Array>, keys: number, batch: number, inFlight: number): Promise<{ seconds: number; keys: number }> {
  const started = performance.now()
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < keys) {
      const from = next
      const to = Math.min(keys, from + batch)
      next = to
      const success: TxnRequestOp<Uint8Array>[] = []
      for (let i = from; i < to; i++) success.push({ put: { key: `fill-${String(i).padStart(10, '0')}`, value: VALUE_BYTES_ARRAY } })
      await node.kv.txn({ compare: [], success })
    }
  }
  await Promise.all(Array.from({ length: inFlight }, worker))
  return { seconds: (performance.now() - started) / 1000, keys }
}

/** A CPU profile of the measured window only (the inspector's sampling profiler), written as `.cpuprofile`. */
class WindowProfiler {
  readonly #file: string
  readonly #session = new Session()

  constructor(file: string) {
    this.#file = file
  }

  async start(): Promise<void> {
    this.#session.connect()
    await this.#session.post('Profiler.enable')
    await this.#session.post('Profiler.setSamplingInterval', { interval: 200 })
    await this.#session.post('Profiler.start')
  }

  async stop(): Promise<void> {
    const { profile } = await this.#session.post('Profiler.stop')
    writeFileSync(this.#file, JSON.stringify(profile))
    this.#session.disconnect()
  }
}

function status(node: MetastoreNode<Uint8Array>, storage: LevelLogStore): ChildStatus {
  const s = node.status()
  return {
    role: s.role,
    leader: s.leader,
    term: s.term,
    appliedIndex: s.appliedIndex,
    commitIndex: s.commitIndex,
    revision: s.revision,
    members: s.members.length,
    firstIndex: storage.firstIndex(),
  }
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env.BENCH_NODE ?? '') as NodeConfig
  const storage = config.engine === 'level' ? await levelStorage(config.dataDir, config.noSync === true ? { sync: false } : {}) : await memoryStorage()
  const transport = await transportFor(config)
  const node = await createNode<Uint8Array>({
    id: config.id,
    peers: config.listenPort === undefined ? [config.id] : config.peers,
    ...(config.join ? { join: true } : {}),
    storage,
    transport,
    codec: bytesCodec,
    ...(loggerFor(config.id) ? { logger: loggerFor(config.id) } : {}),
    ...(config.snapshotEvery !== undefined ? { snapshotEvery: config.snapshotEvery } : {}),
    ...(config.compactKeep !== undefined ? { compactKeep: config.compactKeep } : {}),
  })
  const nodeCreatedMs = performance.now()
  let servingMs: number | undefined
  if (config.probeServing) {
    // The first linearizable read that succeeds: a leader is known, it committed an entry of its
    // term, and this node applied up to the read index.
    for (;;) {
      try {
        await node.kv.get(keyOf(0))
        break
      } catch {
        await new Promise((r) => setTimeout(r, 1))
      }
    }
    servingMs = performance.now()
  }
  let closing = false
  const close = async (): Promise<void> => {
    if (closing) return
    closing = true
    await node.close().catch(() => undefined)
    process.exit(0)
  }
  process.on('disconnect', () => void close())
  let memberProfiler: WindowProfiler | undefined
  process.on('message', (raw) => {
    const m = raw as ParentMessage
    if (m.type !== 'call') return
    const reply = (result: unknown): void => send({ type: 'reply', id: m.id, result })
    const fail = (err: unknown): void => send({ type: 'reply', id: m.id, error: (err as Error)?.stack ?? String(err) })
    const params = (m.params ?? {}) as Record<string, unknown>
    const run = async (): Promise<unknown> => {
      switch (m.method) {
        case 'status':
          return status(node, storage)
        case 'prime':
          await primeKeys(opFor(node, 'put'))
          return status(node, storage)
        case 'load': {
          const spec = params as unknown as LoadSpec & { profileFile?: string }
          const profiler = spec.profileFile === undefined ? undefined : new WindowProfiler(spec.profileFile)
          return closedLoop(opFor(node, spec.op), spec, {
            onWindowStart: async () => {
              await profiler?.start()
              send({ type: 'window', phase: 'start' })
            },
            onWindowEnd: async () => {
              send({ type: 'window', phase: 'end' })
              await profiler?.stop()
            },
          })
        }
        case 'fill':
          return fill(node, Number(params.keys), Number(params.batch ?? 1000), Number(params.inFlight ?? 4))
        case 'put':
          return node.kv.put(String(params.key), VALUE_BYTES_ARRAY)
        case 'firstWrite':
          return firstAck((key) => node.kv.put(key, VALUE_BYTES_ARRAY), String(params.key))
        case 'count':
          return (await node.kv.range({ prefix: String(params.prefix), countOnly: true, serializable: true })).count
        case 'memory': {
          const g = (globalThis as { gc?: () => void }).gc
          if (g) g()
          return process.memoryUsage()
        }
        case 'addLearner':
          return node.addLearner(Number(params.id), { address: String(params.address) })
        case 'promote':
          return node.promote(Number(params.id))
        case 'metrics':
          return node.metrics.render()
        case 'profileStart':
          // A member that runs no load (a follower) profiled over a window the parent chooses.
          memberProfiler = new WindowProfiler(String(params.file))
          await memberProfiler.start()
          return true
        case 'profileStop':
          await memberProfiler?.stop()
          memberProfiler = undefined
          return true
        case 'close':
          setImmediate(() => void close())
          return true
        default:
          throw new Error(`unknown method ${m.method}`)
      }
    }
    run().then(reply, fail)
  })
  send({ type: 'ready', timings: { modulesLoadedMs, nodeCreatedMs, ...(servingMs !== undefined ? { servingMs } : {}) } })
}

main().catch((err: unknown) => {
  send({ type: 'failed', error: (err as Error)?.stack ?? String(err) })
  process.exit(1)
})
