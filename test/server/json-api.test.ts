// The JSON API (/v1/) against a 3-node cluster of processes, through a follower (which forwards
// writes and reads): kv, ranges, txn, leases and their expiry, watch as Server-Sent Events,
// status, health, metrics, and the 413 / 400 answers.
import t from 'tap'
import { call, jsonCall, ProcCluster, waitFor } from './helpers.js'

/** Reads Server-Sent Events from a fetch body: `{ id?, event?, data? }` per event, comments skipped. */
class SseReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>
  readonly #decoder = new TextDecoder()
  #buffer = ''
  comments: string[] = []
  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.getReader()
  }

  /** The next event (or comment, with `comments: true`); fails if none arrives within `timeoutMs`. */
  async next(timeoutMs = 15_000): Promise<{ id?: string; event?: string; data?: string; comment?: string }> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const end = this.#buffer.indexOf('\n\n')
      if (end >= 0) {
        const block = this.#buffer.slice(0, end)
        this.#buffer = this.#buffer.slice(end + 2)
        const out: { id?: string; event?: string; data?: string; comment?: string } = {}
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) out.comment = line.slice(1).trim()
          else {
            const colon = line.indexOf(':')
            const field = line.slice(0, colon)
            const value = line.slice(colon + 1).replace(/^ /, '')
            if (field === 'id' || field === 'event' || field === 'data') out[field] = value
          }
        }
        return out
      }
      const left = deadline - Date.now()
      if (left <= 0) throw new Error('no event in time')
      let timer: NodeJS.Timeout | undefined
      const r = await Promise.race([
        this.#reader.read(),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('no event in time')), left))),
      ]).finally(() => clearTimeout(timer))
      if (r.done) throw new Error('the stream ended')
      this.#buffer += this.#decoder.decode(r.value, { stream: true })
    }
  }

  /** The next `events` event, skipping comments. */
  async nextEvent(): Promise<{ id?: string; event?: string; data?: string }> {
    for (;;) {
      const e = await this.next()
      if (e.comment === undefined) return e
    }
  }

  async close(): Promise<void> {
    await this.#reader.cancel().catch(() => {})
  }
}

t.test('JSON API through a follower', async (t) => {
  const cluster = await ProcCluster.create(3)
  t.teardown(() => cluster.destroy())
  for (const id of [1, 2, 3]) cluster.start(id, 3)
  const leader = await cluster.leader([1, 2, 3])
  const url = cluster.clientUrl(leader === 1 ? 2 : 1)

  await t.test('put, get, range, delete', async (t) => {
    const a = await call(`${url}/v1/kv/user%2Fada`, { method: 'PUT', body: JSON.stringify({ name: 'ada', age: 36 }), headers: { 'content-type': 'application/json' } })
    t.equal(a.status, 200)
    t.type(a.json.revision, 'number')
    const b = await call(`${url}/v1/kv/user/bob?prevKv=true`, { method: 'PUT', body: 'plain text' })
    t.equal(b.status, 200)
    t.notOk(b.json.prevKv, 'no previous value')
    const got = await call(`${url}/v1/kv/user/ada`)
    t.equal(got.status, 200)
    t.same(got.json.kv.value, { name: 'ada', age: 36 }, 'a JSON value round-trips')
    t.match(got.json.kv, { key: 'user/ada', version: 1, lease: 0, createRevision: a.json.revision, modRevision: a.json.revision })
    t.equal((await call(`${url}/v1/kv/user/bob`)).json.kv.value, 'plain text', 'a text body stays a string')
    t.equal((await call(`${url}/user/bob`)).text, 'plain text', 'and the classic route sees it')

    const missing = await call(`${url}/v1/kv/user/zed`)
    t.equal(missing.status, 404)
    t.equal(missing.json.code, 'KEY_NOT_FOUND')

    const range = await call(`${url}/v1/kv/user/?prefix=true`)
    t.same(range.json.kvs.map((kv: { key: string }) => kv.key), ['user/ada', 'user/bob'])
    t.equal(range.json.count, 2)
    t.equal(range.json.more, false)
    const limited = await call(`${url}/v1/kv/user/?prefix=true&limit=1&sort=key&order=descend&keysOnly=true`)
    t.same(limited.json.kvs.map((kv: { key: string }) => kv.key), ['user/bob'])
    t.equal(limited.json.more, true)
    t.notOk('value' in limited.json.kvs[0], 'keysOnly leaves values out')
    const counted = await call(`${url}/v1/kv/?prefix=true&countOnly=true`)
    t.equal(counted.json.count, 2)
    t.same(counted.json.kvs, [])
    const between = await call(`${url}/v1/kv/user/a?end=user/b`)
    t.same(between.json.kvs.map((kv: { key: string }) => kv.key), ['user/ada'])
    const old = await call(`${url}/v1/kv/user/ada?revision=${a.json.revision - 1}`)
    t.equal(old.status, 404, 'the key did not exist at an earlier revision')

    const del = await call(`${url}/v1/kv/user/?prefix=true&prevKv=true`, { method: 'DELETE' })
    t.equal(del.status, 200)
    t.equal(del.json.deleted, 2)
    t.same(del.json.prevKvs.map((kv: { key: string }) => kv.key), ['user/ada', 'user/bob'])
  })

  await t.test('txn: compare, then success or failure', async (t) => {
    const txn = (body: unknown) => jsonCall(`${url}/v1/txn`, 'POST', body)
    const first = await txn({
      compare: [{ key: 'lock', target: 'version', op: '=', value: 0 }],
      success: [{ put: { key: 'lock', value: { owner: 'me' } } }, { put: { key: 'lock-count', value: 1 } }],
      failure: [{ get: { key: 'lock' } }],
    })
    t.equal(first.status, 200)
    t.equal(first.json.succeeded, true)
    t.equal(first.json.responses.length, 2)
    t.same(first.json.responses[0], { put: { revision: first.json.revision } })
    const second = await txn({
      compare: [{ key: 'lock', target: 'version', op: '=', value: 0 }],
      success: [{ put: { key: 'lock', value: 'stolen' } }],
      failure: [{ get: { key: 'lock' } }, { delete: { key: 'lock-count', prevKv: true } }],
    })
    t.equal(second.json.succeeded, false)
    t.same(second.json.responses[0].get.kvs[0].value, { owner: 'me' })
    t.equal(second.json.responses[1].delete.deleted, 1)
    t.equal(second.json.responses[1].delete.prevKvs[0].value, 1)
    const valueCompare = await txn({ compare: [{ key: 'lock', target: 'value', op: '=', value: { owner: 'me' } }], success: [{ delete: { key: 'lock' } }] })
    t.equal(valueCompare.json.succeeded, true, 'a value compare takes a JSON value')
  })

  await t.test('leases: grant, attach, time to live, keepalive, expiry, revoke', async (t) => {
    const grant = await jsonCall(`${url}/v1/lease/grant`, 'POST', { ttl: 1 })
    t.equal(grant.status, 200)
    const id = grant.json.id as number
    t.equal(grant.json.ttl, 1)
    t.equal((await call(`${url}/v1/kv/session?lease=${id}`, { method: 'PUT', body: 'alive' })).status, 200)
    const ttl = await call(`${url}/v1/lease/${id}`)
    t.equal(ttl.status, 200)
    t.same(ttl.json.keys, ['session'])
    t.ok(ttl.json.remainingMs <= 1000)
    t.ok((await call(`${url}/v1/leases`)).json.leases.includes(id))
    t.equal((await jsonCall(`${url}/v1/lease/keepalive`, 'POST', { id })).json.ttl, 1)

    await waitFor('the lease to expire and take its key', async () => (await call(`${url}/v1/kv/session`)).status === 404, 20_000, 100)
    const gone = await call(`${url}/v1/lease/${id}`)
    t.equal(gone.status, 404)
    t.equal(gone.json.code, 'LEASE_NOT_FOUND')
    const late = await jsonCall(`${url}/v1/lease/keepalive`, 'POST', { id })
    t.equal(late.status, 404, 'keepalive of an expired lease')

    const second = (await jsonCall(`${url}/v1/lease/grant`, 'POST', { ttl: 60 })).json.id as number
    await call(`${url}/v1/kv/a?lease=${second}`, { method: 'PUT', body: '1' })
    await call(`${url}/v1/kv/b?lease=${second}`, { method: 'PUT', body: '2' })
    const revoked = await jsonCall(`${url}/v1/lease/revoke`, 'POST', { id: second })
    t.equal(revoked.json.deleted, 2)
    const unknown = await call(`${url}/v1/kv/c?lease=12345`, { method: 'PUT', body: 'x' })
    t.equal(unknown.status, 404)
    t.equal(unknown.json.code, 'LEASE_NOT_FOUND')
  })

  await t.test('watch: Server-Sent Events in revision order, one event per revision, resumable', async (t) => {
    const ac = new AbortController()
    t.teardown(() => ac.abort())
    const res = await fetch(`${url}/v1/watch?key=w/&prefix=true&prevKv=true`, { signal: ac.signal })
    t.equal(res.status, 200)
    t.match(res.headers.get('content-type'), /^text\/event-stream/)
    const sse = new SseReader(res.body!)
    t.equal((await sse.next()).comment, 'watching', 'the stream opens with a comment once the watch is in place')

    const revisions: number[] = []
    for (let i = 0; i < 5; i++) revisions.push((await call(`${url}/v1/kv/w/${i}`, { method: 'PUT', body: `v${i}` })).json.revision)
    await call(`${url}/v1/kv/outside`, { method: 'PUT', body: 'not watched' })
    const txn = await jsonCall(`${url}/v1/txn`, 'POST', { success: [{ put: { key: 'w/0', value: 'again' } }, { delete: { key: 'w/1' } }] })
    revisions.push(txn.json.revision)

    const batches: Array<{ revision: number; events: Array<{ type: string; kv: { key: string; value?: unknown }; prevKv?: { value: unknown } }> }> = []
    for (let i = 0; i < 6; i++) {
      const e = await sse.nextEvent()
      t.equal(e.event, 'events')
      const batch = JSON.parse(e.data!)
      t.equal(e.id, String(batch.revision), 'the event id is its revision')
      batches.push(batch)
    }
    t.same(batches.map((b) => b.revision), revisions, 'every revision once, in order')
    t.same(batches[0].events, [{ type: 'put', kv: { key: 'w/0', value: 'v0', createRevision: revisions[0], modRevision: revisions[0], version: 1, lease: 0 } }])
    const last = batches[5]
    t.equal(last.events.length, 2, 'a transaction\'s events come in one batch')
    t.match(last.events[0], { type: 'put', kv: { key: 'w/0', value: 'again' }, prevKv: { value: 'v0' } })
    t.match(last.events[1], { type: 'delete', kv: { key: 'w/1' }, prevKv: { value: 'v1' } })
    await sse.close()

    const resumed = await fetch(`${url}/v1/watch?key=w/&prefix=true`, { signal: ac.signal, headers: { 'last-event-id': String(revisions[2]) } })
    const again = new SseReader(resumed.body!)
    const next = await again.nextEvent()
    t.equal(Number(next.id), revisions[3], 'Last-Event-ID resumes after that revision')
    await again.close()
  })

  await t.test('status, members, health and metrics', async (t) => {
    const status = await call(`${url}/v1/status`)
    t.equal(status.status, 200)
    t.match(status.json, { role: 'follower', leader, term: Number, commitIndex: Number, appliedIndex: Number, revision: Number, compactRevision: 0 })
    t.equal(status.json.members.length, 3)
    const leaderStatus = await call(`${cluster.clientUrl(leader)}/v1/status`)
    t.equal(leaderStatus.json.role, 'leader')
    t.same(Object.keys(leaderStatus.json.progress).sort(), ['1', '2', '3'], 'the leader reports each member\'s progress')
    const members = await call(`${url}/v1/members`)
    t.same(members.json.members.map((m: { id: number; role: string }) => [m.id, m.role]), [[1, 'voter'], [2, 'voter'], [3, 'voter']])
    const health = await call(`${url}/health`)
    t.same(health.json, { health: true, leader })
    const metrics = await call(`${url}/metrics`)
    t.equal(metrics.status, 200)
    t.match(metrics.headers.get('content-type'), /^text\/plain; version=0\.0\.4/)
    t.match(metrics.text, /metastore_http_requests_total\{code="200",route="GET \/v1\/status"\} 1/)
    t.match(metrics.text, /# TYPE metastore_http_request_duration_seconds histogram/)
    t.match(metrics.text, /metastore_raft_term \d+/)
    t.match(metrics.text, /metastore_transport_sent_messages_total/)
  })

  await t.test('413 for a value, key or body over the limits; 400 for bad input', async (t) => {
    const bigValue = await call(`${url}/v1/kv/big`, { method: 'PUT', body: 'x'.repeat(1.6 * 1024 * 1024) })
    t.equal(bigValue.status, 413)
    t.equal(bigValue.json.code, 'TOO_LARGE')
    const bigBody = await call(`${url}/big`, { method: 'PUT', body: 'x'.repeat(3 * 1024 * 1024) })
    t.equal(bigBody.status, 413, 'a body over --max-request-bytes')
    const bigKey = await call(`${url}/v1/kv/${'k'.repeat(2000)}`, { method: 'PUT', body: 'v' })
    t.equal(bigKey.status, 413, 'a key over the key limit')

    const cases: Array<[string, string, string?, Record<string, string>?]> = [
      ['POST', '/v1/txn', '{not json', { 'content-type': 'application/json' }],
      ['POST', '/v1/txn', JSON.stringify({ success: [{ explode: {} }] })],
      ['POST', '/v1/txn', JSON.stringify({ compare: [{ key: 'a', target: 'version', op: '~', value: 1 }] })],
      ['POST', '/v1/txn', JSON.stringify({ compare: [{ key: 'a', target: 'version', op: '=', value: 'one' }] })],
      ['PUT', '/v1/kv/j', '{"a":', { 'content-type': 'application/json' }],
      ['GET', '/v1/kv/a?limit=ten&prefix=true'],
      ['GET', '/v1/kv/a?prefix=maybe'],
      ['GET', '/v1/kv/a?bogus=1'],
      ['GET', '/v1/kv/?'],
      ['GET', '/v1/kv/a?prefix=true&end=b'],
      ['POST', '/v1/lease/grant', JSON.stringify({ ttl: -1 })],
      ['POST', '/v1/compact', JSON.stringify({ revision: 'latest' })],
      ['POST', '/v1/members', JSON.stringify({ id: 9, address: 'not a url' })],
      ['POST', '/9', 'ftp://127.0.0.1:1'],
      ['GET', '/%E0%A4%A'],
    ]
    for (const [method, path, body, headers] of cases) {
      const a = await call(`${url}${path}`, { method, ...(body !== undefined ? { body } : {}), ...(headers ? { headers } : {}) })
      t.equal(a.status, 400, `${method} ${path} ${body ?? ''} → 400`)
      t.equal(a.json?.code, 'INVALID', `${method} ${path}: code INVALID (${a.text})`)
    }
    const notUtf8 = await call(`${url}/v1/kv/bytes`, { method: 'PUT', body: new Uint8Array([0x61, 0xc3, 0x28]) })
    t.equal(notUtf8.status, 400, 'a body that is not UTF-8')
    t.match(notUtf8.json, { code: 'INVALID', message: /UTF-8/ })
    // A body of many chunks comes back whole, multi-byte characters across chunk edges included.
    const long = 'é€𝄞'.repeat(40_000)
    t.equal((await call(`${url}/v1/kv/long`, { method: 'PUT', body: long })).status, 200)
    t.equal((await call(`${url}/v1/kv/long`)).json.kv.value, long, 'a 360 KB body read back as it was sent')
    const notFound = await call(`${url}/v1/nothing-here`)
    t.equal(notFound.status, 404)
    t.equal(notFound.json.code, 'NOT_FOUND')
    const wrongMethod = await call(`${url}/v1/txn`)
    t.equal(wrongMethod.status, 405)
    t.equal(wrongMethod.headers.get('allow'), 'POST')
  })

  await t.test('compaction: old revisions are gone, with the compact revision', async (t) => {
    const r1 = (await call(`${url}/v1/kv/c`, { method: 'PUT', body: '1' })).json.revision as number
    const r2 = (await call(`${url}/v1/kv/c`, { method: 'PUT', body: '2' })).json.revision as number
    const compact = await jsonCall(`${url}/v1/compact`, 'POST', { revision: r2 })
    t.equal(compact.status, 200)
    t.equal(compact.json.compactRevision, r2)
    const old = await call(`${url}/v1/kv/c?revision=${r1}`)
    t.equal(old.status, 410)
    t.equal(old.json.code, 'COMPACTED')
    t.equal(old.json.compactRevision, r2)
  })
})
