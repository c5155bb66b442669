/**
 * Three services in one process, each with its own HTTP server and routes, forming a metastore
 * cluster whose Raft traffic rides on those same servers under `/raft`:
 *
 *   npm run build && node build/examples/mount-http-transport.js
 *
 * On separate machines it is the same code with each service's own address in `peers`.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { createNode, HttpTransport, memoryStorage, type MetastoreNode } from '../lib/index.js'

const CLUSTER = 'example'
const SECRET = 'a secret shared by the three services'

interface Service {
  readonly id: number
  readonly server: http.Server
  readonly transport: HttpTransport
}

/** The members, once started. */
const nodes = new Map<number, MetastoreNode<string>>()

/** A service's own routes: a health check, and its node's view of the store. */
function app(id: number): http.RequestListener {
  return (req, res) => {
    if (req.url === '/health') {
      res.end('ok')
      return
    }
    const key = req.url?.startsWith('/kv/') ? decodeURIComponent(req.url.slice(4)) : undefined
    const node = nodes.get(id)
    if (key && node) {
      node.kv.get(key).then(
        (kv) => {
          res.statusCode = kv ? 200 : 404
          res.end(kv ? kv.value : 'not found')
        },
        (err: Error) => {
          res.statusCode = 503
          res.end(err.message)
        },
      )
      return
    }
    res.statusCode = 404
    res.end('not found')
  }
}

function get(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (body += c))
        res.on('end', () => resolve(body))
      })
      .on('error', reject)
  })
}

// Each service makes its server with its routes, then mounts the transport on it: requests under
// /raft go to the transport, everything else to the app.
const services: Service[] = []
for (const id of [1, 2, 3]) {
  // No whole-request timeout: a snapshot streamed to a new member can take longer than Node's
  // default of 5 minutes on a large data set (the transport has its own idle timeouts).
  const server = http.createServer({ requestTimeout: 0 }, app(id))
  const transport = new HttpTransport({ server, path: '/raft', clusterId: CLUSTER, secret: SECRET })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  services.push({ id, server, transport })
}
const port = (s: Service): number => (s.server.address() as AddressInfo).port
const peers = services.map((s) => ({ id: s.id, address: `http://127.0.0.1:${port(s)}` }))
for (const s of services) {
  nodes.set(s.id, await createNode<string>({ id: s.id, peers, storage: await memoryStorage(), transport: s.transport, tickMs: 20 }))
}
const [one, , three] = services
console.log(`services on ports ${services.map(port).join(', ')}`)
console.log(`leader: node ${await nodes.get(1)!.waitForLeader()}`)

const put = await nodes.get(2)!.kv.put('greeting', 'hello from node 2')
console.log(`put greeting at revision ${put.revision}`)
// Read through node 3's own route: the app and the cluster share the server.
console.log(`node 3 GET /kv/greeting: ${await get(port(three), '/kv/greeting')}`)
console.log(`node 1 GET /health: ${await get(port(one), '/health')}`)

for (const node of nodes.values()) await node.close()
for (const s of services) {
  await new Promise<void>((resolve) => {
    s.server.close(() => resolve())
    s.server.closeAllConnections()
  })
}
console.log('closed')
