/**
 * One metastore node in a process of its own, for the multi-process tests: LevelDB storage in a
 * directory, the TCP transport, and a control channel of JSON lines on stdin/stdout (see
 * `protocol.ts`). Logs go to stderr. The process exits when asked to close or when its stdin ends
 * (the test that started it is gone), so it never outlives its test by more than a moment.
 *
 * Run by the harness as `node node-process.js '<NodeProcessConfig as JSON>'`; run without an
 * argument it does nothing.
 *
 * @module
 */
import { createInterface } from 'node:readline'
import { createNode, type MetastoreNode } from '../../lib/node/create-node.js'
import type { RaftLogger } from '../../lib/raft/logger.js'
import { levelStorage } from '../../lib/storage/level-engine.js'
import { TcpTransport } from '../../transports/tcp.js'
import type { ControlError, ControlOutput, ControlRequest, NodeProcessConfig, ScanResult } from './protocol.js'

const arg = process.argv[2]
if (arg === undefined) {
  console.log('1..0 # SKIP helper process of the multi-process tests')
} else {
  await main(JSON.parse(arg) as NodeProcessConfig)
}

async function main(config: NodeProcessConfig): Promise<void> {
  const tag = `[n${config.id} ${process.pid}]`
  const log = (level: string, message: string): void => {
    process.stderr.write(`${new Date().toISOString()} ${tag} ${level} ${message}\n`)
  }
  const logger: RaftLogger = {
    debug: (m) => {
      if (config.verbose) log('debug', m)
    },
    info: (m) => log('info', m),
    warn: (m) => log('warn', m),
    error: (m) => log('error', m),
  }
  const send = (out: ControlOutput): void => {
    process.stdout.write(`${JSON.stringify(out)}\n`)
  }

  const storage = await levelStorage(config.dir)
  const transport = new TcpTransport({ listen: { host: config.host, port: config.port }, clusterId: config.clusterId, logger })
  const node: MetastoreNode<string> = await createNode<string>({
    id: config.id,
    peers: config.peers,
    storage,
    transport,
    tickMs: config.tickMs,
    electionTick: config.electionTick,
    requestTimeoutMs: config.requestTimeoutMs,
    logger,
  })
  node.raft.on('leaderChanged', (leader, term) => log('info', `leader is now ${leader} (term ${term})`))
  node.raft.on('error', (err) => log('error', `node error: ${err.stack ?? err.message}`))

  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= node.close().then(
      () => log('info', 'closed'),
      (err: unknown) => log('error', `close failed: ${String(err)}`),
    )
    return closing
  }

  const handle = async (req: ControlRequest): Promise<unknown> => {
    switch (req.op) {
      case 'put':
        return { revision: (await node.kv.put(req.key, req.value)).revision }
      case 'get': {
        const kv = await node.kv.get(req.key, { serializable: req.serializable === true })
        return kv ? { value: kv.value, modRevision: kv.modRevision, version: kv.version } : {}
      }
      case 'scan': {
        const { kvs } = await node.kv.range({ prefix: req.prefix, serializable: req.serializable === true })
        const out: ScanResult = {}
        for (const kv of kvs) out[kv.key] = [kv.value, kv.version]
        return out
      }
      case 'status':
        return node.status()
      case 'close':
        await close()
        return true
      default:
        throw new TypeError(`unknown operation ${String((req as { op?: unknown }).op)}`)
    }
  }

  const lines = createInterface({ input: process.stdin })
  lines.on('line', (text) => {
    let req: ControlRequest
    try {
      req = JSON.parse(text) as ControlRequest
    } catch {
      log('warn', `ignored a control line that is not JSON: ${text.slice(0, 80)}`)
      return
    }
    handle(req).then(
      (result) => {
        send({ n: req.n, ok: true, result })
        if (req.op === 'close') exit(0)
      },
      (err: unknown) => send({ n: req.n, ok: false, error: errorOf(err) }),
    )
  })
  // The test is gone (or done with this node): close and leave.
  lines.on('close', () => {
    void close().then(() => exit(0))
  })
  send({ event: 'ready', id: config.id, pid: process.pid })
  log('info', `running: listening on ${config.host}:${config.port}, data in ${config.dir}`)
}

function errorOf(err: unknown): ControlError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return { code: typeof code === 'string' ? code : err.name, message: err.message }
  }
  return { code: 'ERROR', message: String(err) }
}

/** Exits once stdout has drained (the last reply must reach the test). */
function exit(code: number): void {
  process.stdout.write('', () => process.exit(code))
}
