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
