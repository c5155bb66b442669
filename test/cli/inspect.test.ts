// `metastore-cli inspect` on the LevelDB data directory of a real `metastore` node: refused with
// LOCKED while the node runs, then read directly once it has stopped.
import t from 'tap'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { ProcCluster } from '../server/helpers.js'
import { parseJson, runCli, runInProcess } from './helpers.js'

const cluster = await ProcCluster.create(1)
t.teardown(() => cluster.destroy())
const node = cluster.start(1, 1)
await cluster.healthy(1)
const dataDir = join(cluster.dir, '1')
const E = ['--endpoints', cluster.clientUrl(1)]

for (const args of [
  ['put', 'user/1', 'ada'],
  ['put', 'user/2', '{"name":"bob"}', '--json-value'],
  ['txn', '--compare', 'version(user/1) = 1', '--success', 'put user/3 cy', '--success', 'del user/2'],
  ['lease', 'grant', '120'],
]) {
  const r = await runInProcess([...E, ...args])
  if (r.code !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`)
}
const status = parseJson(await runInProcess([...E, '--json', 'status']))[0].status

t.test('a running node holds its database: inspect says so and exits 1', async (t) => {
  const locked = await runCli(['inspect', dataDir])
  t.equal(locked.code, 1)
  t.match(locked.stderr, /locked by another process .*stop it before inspecting.*\[LOCKED\]/)
})

t.test('a stopped node: hard state, log, membership, applied state', async (t) => {
  node.child.kill('SIGTERM')
  const exit = await node.exited
  t.equal(exit.code, 0, exit.code === 0 ? 'the node stopped cleanly' : node.log)

  const r = await runCli(['inspect', dataDir])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, new RegExp(`database\\s+${dataDir} \\(leveldb\\)`))
  t.match(r.stdout, /hard state\s+term \d+, vote 1, commit \d+/)
  t.match(r.stdout, /log\s+first index 1, last index \d+/)
  t.match(r.stdout, /snapshot\s+none/)
  t.match(r.stdout, new RegExp(`membership\\s+voters 1 ${cluster.peerUrls[0]}; learners -`))
  t.match(r.stdout, /keys\s+2\n/, 'user/1 and user/3 (user/2 was deleted)')
  t.match(r.stdout, /leases\s+1\n/)

  const json = parseJson(await runInProcess(['--json', 'inspect', dataDir]))
  t.equal(json.engine, 'leveldb')
  t.ok(json.kv.appliedIndex >= status.appliedIndex, 'everything applied before the stop is there')
  t.equal(json.kv.revision, status.revision)
  t.equal(json.hardState.commit, json.kv.appliedIndex)
  t.equal(json.lastIndex, json.hardState.commit)
  t.strictSame(json.kv.membership.confState.voters, [1])
})

t.test('--entries lists the log with a summary of each command', async (t) => {
  const r = await runInProcess(['inspect', dataDir, '--entries'])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /INDEX\s+TERM\s+TYPE\s+SIZE\s+SUMMARY/)
  t.match(r.stdout, /\s1\s+1\s+confChange\s+\d+\s+conf change: addVoter 1/)
  t.match(r.stdout, /normal\s+0\s+empty entry/)
  t.match(r.stdout, /put "user\/1" = "ada"/)
  t.match(r.stdout, /put "user\/2" = \{"name":"bob"\}/)
  t.match(r.stdout, /txn: 1 compares; success: put "user\/3" = "cy"; delete "user\/2"; failure: -/)
  t.match(r.stdout, /lease grant \d+ ttl 120s/)

  const page = parseJson(await runInProcess(['--json', 'inspect', dataDir, '--entries', '--from', '2', '--limit', '2']))
  t.strictSame(page.entries.map((e: { index: number }) => e.index), [2, 3])
  t.match(page.entries[1], { type: 'normal', term: Number, size: Number, summary: String })
})

t.test('a directory without a database is refused, not created', async (t) => {
  const empty = join(cluster.dir, 'empty')
  mkdirSync(empty)
  const r = await runInProcess(['inspect', empty])
  t.equal(r.code, 1)
  t.match(r.stderr, /no database in .*\[NOT_FOUND\]/)
  t.notOk(existsSync(join(empty, 'CURRENT')), 'nothing was created')
  const missing = await runInProcess(['inspect', join(cluster.dir, 'nowhere')])
  t.equal(missing.code, 1)
  t.match(missing.stderr, /ENOENT/)
  const flags = await runInProcess(['inspect', dataDir, '--limit', '3'])
  t.equal(flags.code, 2, '--limit without --entries is a usage error')
})
