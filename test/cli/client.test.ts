// The CLI's HTTP client against small fake servers: which endpoint it tries, when it moves on,
// and when it must not send a write again.
import t, { type Test } from 'tap'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { ApiError, Client, OutcomeUnknownError, UnreachableError } from '../../examples/cli/client.js'

type Reply = (req: IncomingMessage, res: ServerResponse) => void

interface Fake {
  readonly url: string
  hits: number
  reply: Reply
}

async function fake(t: Test, reply: Reply): Promise<Fake> {
  const state = { hits: 0, reply, url: '' }
  const server: Server = createServer((req, res) => {
    state.hits++
    state.reply(req, res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  })
  return state
}

/** A port nothing listens on (taken and released). */
async function deadUrl(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise((r) => server.close(r))
  return `http://127.0.0.1:${port}`
}

const json = (status: number, body: unknown): Reply => (_req, res) => {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}

const client = (endpoints: string[], timeoutMs = 10_000) => new Client({ endpoints, timeoutMs, dialTimeoutMs: 2000 })

t.test('a refused endpoint is skipped, and the one that answered is tried first next time', async (t) => {
  const dead = await deadUrl()
  const unavailable = await fake(t, json(503, { code: 'UNAVAILABLE', message: 'no leader' }))
  const live = await fake(t, json(200, { ok: 1 }))
  const c = client([dead, unavailable.url, live.url])
  t.strictSame(await c.call({ method: 'GET', path: '/v1/status' }), { ok: 1 })
  t.equal(unavailable.hits, 1)
  t.strictSame(await c.call({ method: 'GET', path: '/v1/status' }), { ok: 1 })
  t.equal(unavailable.hits, 1, 'the second call went straight to the endpoint that answered')
  t.equal(live.hits, 2)
})

t.test('a write that timed out on the server is not sent to another endpoint', async (t) => {
  const timedOut = await fake(t, json(503, { code: 'TIMEOUT', message: 'no majority in time' }))
  const live = await fake(t, json(200, { revision: 2 }))
  const c = client([timedOut.url, live.url])
  await t.rejects(c.call({ method: 'PUT', path: '/v1/kv/a', text: 'v' }), { name: 'ApiError', code: 'TIMEOUT', status: 503 })
  t.equal(live.hits, 0, 'the write went nowhere else')
  t.strictSame(await c.call({ method: 'GET', path: '/v1/kv/a' }), { revision: 2 }, 'a read moves on')
  const unavailable = await fake(t, json(503, { code: 'UNAVAILABLE', message: 'no leader' }))
  t.strictSame(await client([unavailable.url, live.url]).call({ method: 'PUT', path: '/v1/kv/a', text: 'v' }), { revision: 2 }, 'a write the endpoint refused moves on')
})

t.test('error answers keep their code, status and details', async (t) => {
  const compacted = await fake(t, json(410, { code: 'COMPACTED', message: 'compacted', compactRevision: 7 }))
  const err = await client([compacted.url]).call({ method: 'GET', path: '/v1/kv/a?revision=2' }).catch((e: unknown) => e)
  t.ok(err instanceof ApiError)
  t.match(err, { code: 'COMPACTED', status: 410, details: { compactRevision: 7 }, endpoint: compacted.url })
  const plain = await fake(t, (_req, res) => {
    res.writeHead(500)
    res.end('boom')
  })
  await t.rejects(client([plain.url]).call({ method: 'GET', path: '/x' }), { code: 'HTTP_500', message: /boom/ })
  const empty = await fake(t, (_req, res) => {
    res.writeHead(204)
    res.end()
  })
  t.equal(await client([empty.url]).call({ method: 'PUT', path: '/a', text: 'v' }), undefined)
})

t.test('no endpoint answering is UNREACHABLE, with each one\'s reason', async (t) => {
  const a = await deadUrl()
  const b = await deadUrl()
  const err = await client([a, b]).call({ method: 'GET', path: '/v1/status' }).catch((e: unknown) => e)
  t.ok(err instanceof UnreachableError)
  t.equal((err as UnreachableError).failures.length, 2)
  t.match((err as Error).message, /ECONNREFUSED/)
})

t.test('a silent endpoint: reads move on, writes report an unknown outcome', async (t) => {
  const silent = await fake(t, () => {})
  const live = await fake(t, json(200, { ok: 1 }))
  t.strictSame(await client([silent.url, live.url], 300).call({ method: 'GET', path: '/v1/members' }).catch((e: Error) => e.message), { ok: 1 })
  const err = await client([silent.url, live.url], 300).call({ method: 'POST', path: '/v1/txn', json: {} }).catch((e: unknown) => e)
  t.ok(err instanceof OutcomeUnknownError, String(err))
  t.equal((err as OutcomeUnknownError).code, 'TIMEOUT')
  t.equal(live.hits, 1, 'only the read reached the second endpoint')
})

t.test('the body goes as JSON or text, with the path and query as given', async (t) => {
  let seen: { method?: string; url?: string; type?: string; body: string } = { body: '' }
  const echo = await fake(t, (req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (d: string) => (body += d))
    req.on('end', () => {
      seen = { method: req.method, url: req.url, type: req.headers['content-type'], body }
      json(200, {})(req, res)
    })
  })
  await client([`${echo.url}/`]).call({ method: 'PUT', path: '/v1/kv/a%2Fb?prevKv=true', text: 'héllo' })
  t.strictSame(seen, { method: 'PUT', url: '/v1/kv/a%2Fb?prevKv=true', type: 'text/plain; charset=utf-8', body: 'héllo' })
  await client([echo.url]).call({ method: 'POST', path: '/v1/txn', json: { compare: [] } })
  t.strictSame(seen, { method: 'POST', url: '/v1/txn', type: 'application/json', body: '{"compare":[]}' })
})

t.test('a stream opens at the first endpoint that answers 2xx; an abort stops the wait', async (t) => {
  const unavailable = await fake(t, json(503, { code: 'UNAVAILABLE', message: 'closing' }))
  const stream = await fake(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write(': hello\n\n')
  })
  const open = await client([unavailable.url, stream.url]).open({ method: 'GET', path: '/v1/watch?key=a' })
  t.equal(open.endpoint, stream.url)
  open.response.destroy()
  const silent = await fake(t, () => {})
  const controller = new AbortController()
  const pending = client([silent.url]).open({ method: 'GET', path: '/v1/watch', signal: controller.signal })
  setImmediate(() => controller.abort(new Error('stopped')))
  await t.rejects(pending, { message: 'stopped' })
})
