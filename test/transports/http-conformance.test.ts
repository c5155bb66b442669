// The shared transport conformance suite against HttpTransport on 127.0.0.1: on servers of its
// own, mounted on host servers that also serve other routes, and over HTTPS with mutual TLS (when
// openssl can make a certificate).
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { NodeId } from '../../lib/raft/types.js'
import { HttpTransport, type HttpTlsOptions, type HttpTransportOptions } from '../../transports/http.js'
import { makeForeign, selfSignedCert, transportConformance, type ForeignTransport, type TransportFactory, type TransportSet } from './conformance.js'

const CLUSTER = 'conformance'
const SECRET = 'the right secret'

type Mode = { kind: 'listen'; tls?: HttpTlsOptions } | { kind: 'mounted' }

/** A host application's server: one route of its own, and the transport mounted next to it. */
async function hostServer(port = 0): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    res.statusCode = req.url === '/health' ? 200 : 404
    res.end(req.url === '/health' ? 'ok' : 'not found')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  return server
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}

function httpFactory(mode: Mode): TransportFactory {
  return {
    supports: { handshake: true },
    async create(ids: readonly NodeId[]): Promise<TransportSet> {
      const made: HttpTransport[] = []
      const servers: http.Server[] = []
      const current = new Map<NodeId, HttpTransport>()
      const urls = new Map<NodeId, string>()
      const scheme = mode.kind === 'listen' && mode.tls ? 'https' : 'http'

      // A transport reachable at `port`: listening itself, or mounted on a host server there
      // (the host server of a node outlives its transport, as an application's would).
      const make = async (port: number, options: Partial<HttpTransportOptions> = {}, host?: http.Server): Promise<HttpTransport> => {
        const base = { clusterId: CLUSTER, secret: SECRET, requestTimeoutMs: 5000, ...options }
        let tr: HttpTransport
        if (mode.kind === 'mounted') {
          let server = host
          if (!server) {
            server = await hostServer(port)
            servers.push(server)
          }
          tr = new HttpTransport({ ...base, server })
        } else {
          tr = new HttpTransport({ ...base, tls: mode.tls, listen: { host: '127.0.0.1', port } })
        }
        made.push(tr)
        await tr.listen()
        return tr
      }
      const hosts = new Map<NodeId, http.Server>()
      const portOf = new Map<NodeId, number>()
      for (const id of ids) {
        if (mode.kind === 'mounted') {
          const server = await hostServer()
          servers.push(server)
          hosts.set(id, server)
          portOf.set(id, (server.address() as AddressInfo).port)
        }
        const tr = await make(portOf.get(id) ?? 0, {}, hosts.get(id))
        current.set(id, tr)
        portOf.set(id, tr.port as number)
        urls.set(id, `${scheme}://127.0.0.1:${tr.port}`)
      }
      const wire = (tr: HttpTransport, self: NodeId): void => {
        for (const [id, url] of urls) if (id !== self) tr.addPeer(id, url)
      }
      for (const [id, tr] of current) wire(tr, id)
      return {
        get: (id) => current.get(id) as HttpTransport,
        async restart(id) {
          await current.get(id)?.close()
          const tr = await make(portOf.get(id) as number, {}, hosts.get(id))
          current.set(id, tr)
          wire(tr, id)
          return tr
        },
        async foreign(kind, target): Promise<ForeignTransport> {
          const member = ids.find((id) => id !== target) as NodeId
          const at = urls.get(target) as string
          return makeForeign(kind, target, member, at, (options) => make(0, options))
        },
        refusals: (reason) => made.reduce((n, tr) => n + tr.metrics.counter('metastore_transport_refused_total', '').get({ reason }), 0),
        async close() {
          for (const tr of made) await tr.close()
          for (const s of servers) await closeServer(s)
          servers.length = 0
        },
      }
    },
  }
}

transportConformance('http', httpFactory({ kind: 'listen' }))
transportConformance('http mounted', httpFactory({ kind: 'mounted' }))

const pem = selfSignedCert()
if ('skip' in pem) {
  // Registered as a skipped test, so that the reason shows in the report.
  const { default: t } = await import('tap')
  t.skip(`https: transport conformance: skipped, ${pem.skip}`, () => {})
} else {
  transportConformance('https', httpFactory({ kind: 'listen', tls: { key: pem.key, cert: pem.cert, ca: pem.cert, mutual: true } }))
}
