/**
 * The four operations of the matrix as a remote client does them: over the `metastore` server's
 * JSON API (plain node:http with keep-alive sockets), and over etcd's gRPC API with the `etcd3`
 * client. The same keys, values and compare-and-set for both.
 *
 * @module
 */
import { Agent, request } from 'node:http'
import { Etcd3 } from 'etcd3'
import { VALUE_TEXT, type OpName } from './workload.js'

/** A client of one system, bound to one endpoint. */
export interface RemoteClient {
  op(name: OpName): (key: string) => Promise<unknown>
  /** Writes `fill-<i>` for i in [from, to) in one transaction. */
  fillBatch?(from: number, to: number): Promise<unknown>
  close(): Promise<void>
}

const TXN_HEAD = '{"compare":[{"key":'

/** The workload's compare always holds: a failure branch means the systems do different work. */
function expectSucceeded(body: string): void {
  if (!body.includes('"succeeded":true')) throw new Error(`the compare-and-set took its failure branch: ${body.slice(0, 200)}`)
}

/** The JSON API of a `metastore` server at `baseUrl` (`http://127.0.0.1:12380`). */
export function httpClient(baseUrl: string): RemoteClient {
  const url = new URL(baseUrl)
  // One socket per request in flight, kept open between requests (HTTP/1.1 has no pipelining).
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity })
  const call = (method: string, path: string, body?: string, contentType?: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = {}
      if (body !== undefined) {
        headers['content-type'] = contentType ?? 'text/plain'
        headers['content-length'] = Buffer.byteLength(body)
      }
      const req = request({ host: url.hostname, port: url.port, method, path, agent, headers }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          if (res.statusCode === 200) resolve(Buffer.concat(chunks).toString('utf8'))
          else reject(new Error(`${method} ${path}: ${res.statusCode} ${Buffer.concat(chunks).toString('utf8').slice(0, 200)}`))
        })
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end(body)
    })
  const kvPath = (key: string): string => `/v1/kv/${encodeURIComponent(key)}`
  const valueJson = JSON.stringify(VALUE_TEXT)
  return {
    op(name) {
      switch (name) {
        case 'put':
          return (key) => call('PUT', kvPath(key), VALUE_TEXT)
        case 'get':
          return (key) => call('GET', kvPath(key))
        case 'get-serializable':
          return (key) => call('GET', `${kvPath(key)}?serializable=true`)
        case 'txn-cas':
          return (key) => {
            const k = JSON.stringify(key)
            const body = `${TXN_HEAD}${k},"target":"value","op":"=","value":${valueJson}}],"success":[{"put":{"key":${k},"value":${valueJson}}}],"failure":[{"get":{"key":${k}}}]}`
            return call('POST', '/v1/txn', body, 'application/json').then(expectSucceeded)
          }
      }
    },
    async close() {
      agent.destroy()
    },
  }
}

/** etcd's KV API at `endpoint` (`http://127.0.0.1:2379`), with the etcd3 client's defaults. */
export function etcdClient(endpoint: string): RemoteClient {
  const client = new Etcd3({ hosts: endpoint })
  const value = Buffer.from(VALUE_TEXT)
  return {
    op(name) {
      switch (name) {
        case 'put':
          return (key) => client.put(key).value(value).exec()
        case 'get':
          return (key) => client.get(key).buffer()
        case 'get-serializable':
          return (key) => client.get(key).serializable(true).buffer()
        case 'txn-cas':
          return (key) =>
            client
              .if(key, 'Value', '==', value)
              .then(client.put(key).value(value))
              .else(client.get(key))
              .commit()
              .then((r) => {
                if (!r.succeeded) throw new Error('the compare-and-set took its failure branch')
              })
      }
    },
    fillBatch(from, to) {
      const puts = []
      for (let i = from; i < to; i++) puts.push(client.put(`fill-${String(i).padStart(10, '0')}`).value(value))
      // A compare that always holds: the guard key is never written.
      return client.if('fill-guard', 'Create', '==', 0).then(...puts).commit()
    },
    async close() {
      client.close()
    },
  }
}
