// startServer() in one process (memory storage, the in-process network): backup and restore
// through /v1/snapshot, membership and leadership routes, watch failures as `event: error`,
// and a clean close with watches open.
import t, { type Test } from 'tap'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startServer, type RunningServer } from '../../examples/server/server.js'
import { InProcessNetwork } from '../../transports/inprocess.js'
import { call, jsonCall, waitFor } from './helpers.js'

const PEERS = ['http://127.0.0.1:1', 'http://127.0.0.1:2', 'http://127.0.0.1:3']
const quiet = { logSink: () => {}, tickMs: 10, electionTick: 10, storage: 'memory' as const, port: 0 }

/** An in-process cluster of `n` servers; closed in teardown. */
async function cluster(t: Test, n: number, extra: { restoreFrom?: string; watchKeepaliveMs?: number } = {}): Promise<RunningServer[]> {
  const net = new InProcessNetwork()
  const peerUrls = PEERS.slice(0, n)
  const servers = await Promise.all(peerUrls.map((_, i) => startServer({ ...quiet, ...extra, id: i + 1, peerUrls, transport: net.transport() })))
  t.teardown(() => Promise.all(servers.map((s) => s.close())))
  await waitFor('a leader', async () => {
    const h = await Promise.all(servers.map((s) => call(`${s.url}/health`)))
    return h.every((a) => a.status === 200 && a.json.leader === h[0].json.leader)
  })
  return servers
}

t.test('snapshot and restore', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'metastore-snapshot-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const [source] = await cluster(t, 1)
  const lease = (await jsonCall(`${source.url}/v1/lease/grant`, 'POST', { ttl: 300 })).json.id as number
  await call(`${source.url}/text`, { method: 'PUT', body: 'plain' })
  await call(`${source.url}/v1/kv/json`, { method: 'PUT', body: JSON.stringify({ a: [1, 2] }), headers: { 'content-type': 'application/json' } })
  await call(`${source.url}/v1/kv/leased?lease=${lease}`, { method: 'PUT', body: 'with lease' })
  for (let i = 0; i < 1500; i += 100) {
    const success = Array.from({ length: 100 }, (_, j) => ({ put: { key: `bulk/${String(i + j).padStart(4, '0')}`, value: i + j } }))
    t.equal((await jsonCall(`${source.url}/v1/txn`, 'POST', { success })).status, 200)
  }
  await call(`${source.url}/v1/kv/gone`, { method: 'PUT', body: 'x' })
  await call(`${source.url}/v1/kv/gone`, { method: 'DELETE' })

  const snap = await fetch(`${source.url}/v1/snapshot`)
  t.equal(snap.status, 200)
  t.equal(snap.headers.get('content-type'), 'application/octet-stream')
  const file = join(dir, 'backup.snapshot')
  writeFileSync(file, Buffer.from(await snap.arrayBuffer()))

  const [restored] = await cluster(t, 1, { restoreFrom: file })
  t.equal((await call(`${restored.url}/text`)).text, 'plain')
  t.same((await call(`${restored.url}/v1/kv/json`)).json.kv.value, { a: [1, 2] })
  const bulk = await call(`${restored.url}/v1/kv/bulk/?prefix=true&countOnly=true`)
  t.equal(bulk.json.count, 1500, 'every key, past one page of the stream')
  t.equal((await call(`${restored.url}/v1/kv/bulk/0999`)).json.kv.value, 999)
  t.equal((await call(`${restored.url}/v1/kv/gone`)).status, 404, 'a deleted key stays deleted')
  const leased = (await call(`${restored.url}/v1/kv/leased`)).json.kv
  t.not(leased.lease, 0, 'a key keeps a lease')
  const ttl = await call(`${restored.url}/v1/lease/${leased.lease}`)
  t.equal(ttl.json.ttl, 300, 'with the same TTL')
  t.same(ttl.json.keys, ['leased'])

  // A damaged file is refused whole, before anything starts.
  const text = readFileSync(file, 'utf8')
  const cut = join(dir, 'cut.snapshot')
  writeFileSync(cut, text.slice(0, text.length - 40))
  const net = new InProcessNetwork()
  await t.rejects(startServer({ ...quiet, id: 1, peerUrls: PEERS.slice(0, 1), transport: net.transport(), restoreFrom: cut }), /not a valid metastore snapshot/)
  const altered = join(dir, 'altered.snapshot')
  writeFileSync(altered, text.replace('"plain"', '"plan"'))
  await t.rejects(startServer({ ...quiet, id: 1, peerUrls: PEERS.slice(0, 1), transport: net.transport(), restoreFrom: altered }), /checksum/)
})

t.test('members, promotion, removal and leadership transfer', async (t) => {
  const servers = await cluster(t, 3)
  const url = servers[0].url
  const added = await jsonCall(`${url}/v1/members`, 'POST', { id: 4, address: 'http://127.0.0.1:4', learner: true })
  t.equal(added.status, 200, added.text)
  t.same(added.json.members.find((m: { id: number }) => m.id === 4), { id: 4, role: 'learner', address: 'http://127.0.0.1:4' })
  const promoted = await jsonCall(`${url}/v1/members/4/promote`, 'POST')
  t.equal(promoted.status, 200, promoted.text)
  t.equal(promoted.json.members.find((m: { id: number }) => m.id === 4).role, 'voter')
  const removed = await jsonCall(`${url}/v1/members/4`, 'DELETE')
  t.same(removed.json.members.map((m: { id: number }) => m.id), [1, 2, 3])
  const missing = await jsonCall(`${url}/v1/members/9/promote`, 'POST')
  t.equal(missing.status, 404)

  const status = (await call(`${url}/v1/status`)).json
  const target = [1, 2, 3].find((id) => id !== status.leader)!
  const moved = await jsonCall(`${url}/v1/leader`, 'POST', { id: target })
  t.equal(moved.status, 200, moved.text)
  t.same(moved.json, { leader: target })
  const notVoter = await jsonCall(`${url}/v1/leader`, 'POST', { id: 7 })
  t.equal(notVoter.status, 409)
})

t.test('watch failures end the stream with an error event; close ends open watches', async (t) => {
  const [server] = await cluster(t, 1, { watchKeepaliveMs: 50 })
  const r1 = (await call(`${server.url}/v1/kv/k`, { method: 'PUT', body: '1' })).json.revision as number
  const r2 = (await call(`${server.url}/v1/kv/k`, { method: 'PUT', body: '2' })).json.revision as number
  await jsonCall(`${server.url}/v1/compact`, 'POST', { revision: r2 })
  const compacted = await call(`${server.url}/v1/watch?key=k&fromRevision=${r1}`)
  t.match(compacted.text, /event: error\ndata: \{"code":"COMPACTED"/)
  t.match(compacted.text, new RegExp(`"compactRevision":${r2}`))

  const res = await fetch(`${server.url}/v1/watch?key=k`)
  const reader = res.body!.getReader()
  let text = ''
  while (!text.includes(': keepalive')) {
    const chunk = await reader.read()
    if (chunk.done) break
    text += new TextDecoder().decode(chunk.value)
  }
  t.match(text, /: keepalive\n\n/, 'keepalive comments flow')
  const closing = server.close()
  for (;;) {
    const chunk = await reader.read()
    if (chunk.done) break
    text += new TextDecoder().decode(chunk.value)
  }
  await closing
  t.match(text, /event: error\ndata: \{"code":"CLOSED"/, 'a closing node tells its watchers')
})

t.test('the classic GET of a JSON value is its JSON text', async (t) => {
  const [server] = await cluster(t, 1)
  await call(`${server.url}/v1/kv/conf`, { method: 'PUT', body: '{"on":true}', headers: { 'content-type': 'application/json' } })
  const a = await call(`${server.url}/conf`)
  t.equal(a.text, '{"on":true}')
  t.match(a.headers.get('content-type'), /^application\/json/)
  const numeric = await call(`${server.url}/123`, { method: 'PUT', body: 'a number is a key for PUT' })
  t.equal(numeric.status, 204)
  t.equal((await call(`${server.url}/123`)).text, 'a number is a key for PUT')
})
