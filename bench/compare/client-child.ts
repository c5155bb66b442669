/**
 * A load client in a process of its own (the http and etcd scenarios): it drives one endpoint of
 * a cluster and reports the figures to the parent over IPC, with the edges of each measured
 * window so that the parent can sample the servers' CPU there.
 *
 * Started by `client-proc.ts` with `BENCH_CLIENT` set to `{ system, endpoint }`.
 *
 * @module
 */
import type { ChildMessage, ParentMessage } from './node-protocol.js'
import { etcdClient, httpClient } from './client-ops.js'
import { closedLoop, firstAck, primeKeys, type LoadSpec } from './workload.js'

function send(message: ChildMessage): void {
  process.send?.(message)
}

const config = JSON.parse(process.env.BENCH_CLIENT ?? '') as { system: 'http' | 'etcd'; endpoint: string }
const client = config.system === 'http' ? httpClient(config.endpoint) : etcdClient(config.endpoint)

process.on('disconnect', () => {
  void client.close().finally(() => process.exit(0))
})
process.on('message', (raw) => {
  const m = raw as ParentMessage
  if (m.type !== 'call') return
  const run = async (): Promise<unknown> => {
    switch (m.method) {
      case 'prime':
        await primeKeys(client.op('put'))
        return true
      case 'load': {
        const spec = m.params as LoadSpec
        return closedLoop(client.op(spec.op), spec, {
          onWindowStart: () => send({ type: 'window', phase: 'start' }),
          onWindowEnd: () => send({ type: 'window', phase: 'end' }),
        })
      }
      case 'firstWrite':
        return firstAck(client.op('put'), String((m.params as { key: string }).key))
      case 'fill': {
        // etcd's default --max-txn-ops is 128: transactions of 128 puts, 16 in flight.
        const { keys } = m.params as { keys: number }
        const fillBatch = client.fillBatch
        if (!fillBatch) throw new Error('this client cannot fill')
        const started = performance.now()
        let next = 0
        const worker = async (): Promise<void> => {
          while (next < keys) {
            const from = next
            next = Math.min(keys, from + 128)
            await fillBatch(from, next)
          }
        }
        await Promise.all(Array.from({ length: 16 }, worker))
        return { seconds: (performance.now() - started) / 1000 }
      }
      case 'close':
        await client.close()
        setImmediate(() => process.exit(0))
        return true
      default:
        throw new Error(`unknown method ${m.method}`)
    }
  }
  run().then(
    (result) => send({ type: 'reply', id: m.id, result }),
    (err: unknown) => send({ type: 'reply', id: m.id, error: (err as Error)?.stack ?? String(err) }),
  )
})
send({ type: 'ready', timings: { modulesLoadedMs: performance.now(), nodeCreatedMs: performance.now() } })
