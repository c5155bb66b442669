// Listening on a fixed port that is held for a moment (as an outgoing connection can hold a port
// of the ephemeral range): the listener waits for it; a port held for good still fails.
import net from 'node:net'
import t from 'tap'
import { silentLogger } from '../../lib/raft/logger.js'
import { HttpTransport } from '../../transports/http.js'
import { listenWithRetry } from '../../transports/tcp-listen.js'
import { TcpTransport } from '../../transports/tcp.js'

function holdPort(): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => resolve(s))
  })
}

const portOf = (s: net.Server): number => (s.address() as net.AddressInfo).port
const closeServer = (s: net.Server): Promise<void> => new Promise((r) => s.close(() => r()))

t.test('a port released during the retry window is taken', async (t) => {
  const blocker = await holdPort()
  const port = portOf(blocker)
  const server = net.createServer()
  t.teardown(() => closeServer(server))
  let retries = 0
  const listening = listenWithRetry(server, port, '127.0.0.1', { retryMs: 20_000, onRetry: () => retries++ })
  // Released once the listener has met the port in use at least once.
  while (retries === 0) await new Promise((r) => setTimeout(r, 10))
  await closeServer(blocker)
  await listening
  t.equal(portOf(server), port, 'listening on the port it asked for')
  t.ok(retries >= 1, `it tried again (${retries} times)`)
})

t.test('a port held for good fails with EADDRINUSE once the window is over', async (t) => {
  const blocker = await holdPort()
  t.teardown(() => closeServer(blocker))
  const server = net.createServer()
  await t.rejects(listenWithRetry(server, portOf(blocker), '127.0.0.1', { retryMs: 300 }), { code: 'EADDRINUSE' })
  let cancelled = false
  const gaveUp = listenWithRetry(server, portOf(blocker), '127.0.0.1', { retryMs: 60_000, cancelled: () => cancelled, onRetry: () => (cancelled = true) })
  await t.rejects(gaveUp, { code: 'EADDRINUSE' }, 'a cancelled retry gives up at once')
  t.notOk(server.listening)
})

t.test('the transports wait for a port held for a moment', async (t) => {
  for (const kind of ['tcp', 'http'] as const) {
    const blocker = await holdPort()
    const port = portOf(blocker)
    // The port is released when the transport says it found it in use.
    let warned = ''
    const logger = { ...silentLogger, warn: (m: string) => {
      warned = m
      void closeServer(blocker)
    } }
    const transport = kind === 'tcp'
      ? new TcpTransport({ listen: { host: '127.0.0.1', port }, clusterId: 'c', logger })
      : new HttpTransport({ listen: { host: '127.0.0.1', port }, clusterId: 'c', logger })
    t.teardown(() => transport.close())
    await transport.start(1, { onMessages: () => {}, onUnreachable: () => {} })
    t.match(warned, /EADDRINUSE/, `${kind}: the wait is logged`)
    t.equal(transport.port, port, `${kind}: listening on its port once it is free`)
    await transport.close()
  }
})
