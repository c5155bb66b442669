// The shared transport conformance suite against TcpTransport: real sockets on 127.0.0.1, plain
// TCP and TLS (when openssl can make a certificate).
import type { NodeId } from '../../lib/raft/types.js'
import { TcpTransport, type TcpTlsOptions } from '../../transports/tcp.js'
import { makeForeign, selfSignedCert, transportConformance, type ForeignTransport, type TransportFactory, type TransportSet } from './conformance.js'

const CLUSTER = 'conformance'
const SECRET = 'the right secret'

function tcpFactory(tls?: TcpTlsOptions): TransportFactory {
  return {
    supports: { handshake: true },
    async create(ids: readonly NodeId[]): Promise<TransportSet> {
      const made: TcpTransport[] = []
      const current = new Map<NodeId, TcpTransport>()
      const ports = new Map<NodeId, number>()
      const scheme = tls ? 'tls' : 'tcp'
      const make = async (port: number, options: { clusterId?: string; secret?: string } = {}): Promise<TcpTransport> => {
        const tr = new TcpTransport({ listen: { host: '127.0.0.1', port }, clusterId: options.clusterId ?? CLUSTER, secret: options.secret ?? SECRET, tls, backoffMaxMs: 250 })
        made.push(tr)
        await tr.listen()
        return tr
      }
      const wire = (tr: TcpTransport, self: NodeId): void => {
        for (const [id, port] of ports) if (id !== self) tr.addPeer(id, `${scheme}://127.0.0.1:${port}`)
      }
      for (const id of ids) {
        const tr = await make(0)
        current.set(id, tr)
        ports.set(id, tr.port)
      }
      for (const [id, tr] of current) wire(tr, id)
      return {
        get: (id) => current.get(id)!,
        async restart(id) {
          await current.get(id)!.close()
          const tr = await make(ports.get(id)!)
          current.set(id, tr)
          wire(tr, id)
          return tr
        },
        async foreign(kind, target): Promise<ForeignTransport> {
          const member = ids.find((id) => id !== target)!
          const at = `127.0.0.1:${ports.get(target)!}`
          return makeForeign(kind, target, member, at, (options) => make(0, options))
        },
        refusals: (reason) => made.reduce((n, tr) => n + tr.metrics.counter('metastore_transport_refused_total', '').get({ reason }), 0),
        async close() {
          for (const tr of made) await tr.close()
        },
      }
    },
  }
}

transportConformance('tcp', tcpFactory())

const pem = selfSignedCert()
if ('skip' in pem) {
  // Registered as a skipped test, so that the reason shows in the report.
  const { default: t } = await import('tap')
  t.skip(`tcp+tls: transport conformance: skipped, ${pem.skip}`, () => {})
} else {
  transportConformance('tcp+tls', tcpFactory({ key: pem.key, cert: pem.cert, ca: pem.cert, mutual: true }))
}
