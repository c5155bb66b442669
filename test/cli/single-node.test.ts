// metastore-cli against a real one-node `metastore` server (memory storage): every command as a
// user runs it, in both output modes, plus the shell and endpoint failover. Most command lines
// run in this process through the CLI's own `execute()` (starting a process per line is slow
// on a loaded machine); the binary itself runs where the process matters: exit codes, standard
// input, Ctrl-C, the shell.
import t from 'tap'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePorts, ProcCluster } from '../server/helpers.js'
import { LiveCli, parseJson, runCli, runInProcess, tempDir } from './helpers.js'

const cluster = await ProcCluster.create(1, ['--storage', 'memory'])
t.teardown(() => cluster.destroy())
cluster.start(1, 1)
await cluster.healthy(1)
const url = cluster.clientUrl(1)
const E = ['--endpoints', url]
const cli = (...args: string[]) => runInProcess([...E, ...args])

t.test('the binary: output on stdout, errors on stderr, exit codes 0, 1 and 2', async (t) => {
  const put = await runCli([...E, 'put', 'bin/key', 'a value'])
  t.equal(put.code, 0, put.stderr)
  t.equal(put.stdout, 'OK\n')
  const got = await runCli([...E, 'get', 'bin/key'])
  t.equal(got.stdout, 'a value\n')
  const missing = await runCli([...E, 'get', 'bin/none'])
  t.equal(missing.code, 1)
  t.match(missing.stderr, /key not found: bin\/none \[KEY_NOT_FOUND\]/)
  const usage = await runCli([...E, 'get'])
  t.equal(usage.code, 2)
  t.match(usage.stderr, /missing <key>\nusage: get <key>/)
  const help = await runInProcess(['help', 'txn'])
  t.equal(help.code, 0)
  t.match(help.stdout, /usage: txn --compare/)
})

t.test('put, get, del, range and prefix print what people read', async (t) => {
  const put = await cli('put', 'fruit/apple', 'red')
  t.equal(put.code, 0, put.stderr)
  t.equal(put.stdout, 'OK\n')
  t.equal((await cli('put', 'fruit/kiwi', 'green and brown')).code, 0)
  t.equal((await cli('put', 'veg/leek', 'white')).code, 0)
  t.equal((await cli('get', 'fruit/kiwi')).stdout, 'green and brown\n')
  t.equal((await cli('prefix', 'fruit/')).stdout, 'fruit/apple\nred\nfruit/kiwi\ngreen and brown\n')
  t.equal((await cli('get', 'fruit/', '--prefix', '--keys-only')).stdout, 'fruit/apple\nfruit/kiwi\n')
  t.equal((await cli('range', 'fruit/b', 'veg/')).stdout, 'fruit/kiwi\ngreen and brown\n')
  t.equal((await cli('range', 'fruit/kiwi', '--count-only')).stdout, '2\n', 'from a key on')
  const limited = await cli('prefix', 'fruit/', '--limit', '1', '--keys-only')
  t.equal(limited.stdout, 'fruit/apple\n')
  t.match(limited.stderr, /more keys/)
  t.equal((await cli('prefix', 'fruit/', '--keys-only', '--sort', 'key', '--order', 'descend')).stdout, 'fruit/kiwi\nfruit/apple\n')
  const badOrder = await cli('prefix', 'fruit/', '--order', 'sideways')
  t.equal(badOrder.code, 2)

  const prev = await cli('put', 'fruit/apple', 'green', '--prev-kv')
  t.equal(prev.stdout, 'OK\nfruit/apple\nred\n')
  const del = await cli('del', 'fruit/', '--prefix', '--prev-kv')
  t.equal(del.stdout, '2\nfruit/apple\ngreen\nfruit/kiwi\ngreen and brown\n')
  const missing = await cli('get', 'fruit/apple')
  t.equal(missing.code, 1)
  t.equal(missing.stdout, '')
  t.match(missing.stderr, /key not found: fruit\/apple \[KEY_NOT_FOUND\]/)
})

t.test('values from stdin and JSON values', async (t) => {
  const piped = await runCli([...E, 'put', 'note', '-'], { input: 'line one\nline two\n' })
  t.equal(piped.code, 0, piped.stderr)
  t.equal((await cli('get', 'note')).stdout, 'line one\nline two\n', 'one trailing newline dropped')
  t.equal((await cli('put', 'cfg', '{"replicas":3,"zones":["a","b"]}', '--json-value')).code, 0)
  const got = parseJson(await cli('--json', 'get', 'cfg'))
  t.strictSame(got.kv.value, { replicas: 3, zones: ['a', 'b'] }, 'stored as JSON, not as a string')
  t.equal(got.kv.version, 1)
  t.equal((await cli('get', 'cfg')).stdout, '{"replicas":3,"zones":["a","b"]}\n')
})

t.test('--json prints the server\'s answers for scripts', async (t) => {
  const put = parseJson(await cli('--json', 'put', 'j/1', 'one'))
  t.type(put.revision, 'number')
  const got = parseJson(await cli('get', 'j/1', '-w', 'json'))
  t.match(got, { kv: { key: 'j/1', value: 'one', modRevision: put.revision, version: 1, lease: 0 } })
  const range = parseJson(await cli('--json', 'prefix', 'j/'))
  t.match(range, { count: 1, more: false, kvs: [{ key: 'j/1' }] })
  const err = await cli('--json', 'get', 'j/none')
  t.equal(err.code, 1)
  t.match(JSON.parse(err.stderr), { error: { code: 'KEY_NOT_FOUND' } }, 'errors as JSON on stderr')
})

t.test('txn: success and failure branches, from flags and from JSON on stdin', async (t) => {
  const first = await cli('txn', '--compare', 'version(lock) = 0', '--success', 'put lock owner-1', '--failure', 'get lock')
  t.equal(first.code, 0, first.stderr)
  t.equal(first.stdout, 'SUCCESS\n\nOK\n')
  const second = await cli('txn', '--compare', 'version(lock) = 0', '--success', 'put lock owner-2', '--failure', 'get lock')
  t.equal(second.stdout, 'FAILURE\n\nlock\nowner-1\n')
  const json = parseJson(await cli('--json', 'txn', '--compare', 'lock = owner-1', '--success', 'del lock --prev-kv'))
  t.match(json, { succeeded: true, responses: [{ delete: { deleted: 1, prevKvs: [{ key: 'lock', value: 'owner-1' }] } }] })
  const request = { compare: [{ key: 'lock', target: 'version', op: '=', value: 0 }], success: [{ put: { key: 'lock', value: { owner: 3 } } }] }
  const fromStdin = await runInProcess([...E, '--json', 'txn'], { input: JSON.stringify(request) })
  t.match(parseJson(fromStdin), { succeeded: true })
  t.equal((await cli('get', 'lock')).stdout, '{"owner":3}\n')
  const dir = tempDir('txn')
  t.teardown(dir.remove)
  const file = join(dir.path, 'req.json')
  writeFileSync(file, JSON.stringify({ compare: [{ key: 'lock', target: 'value', op: '=', value: 'nope' }], failure: [{ get: { key: 'lock' } }] }))
  const fromFile = await cli('txn', '--file', file)
  t.equal(fromFile.stdout, 'FAILURE\n\nlock\n{"owner":3}\n')
  const refused = await cli('txn', '--compare', 'version(lock) = 0', '--success', 'put a 1', '--success', 'put a 2')
  t.equal(refused.code, 1, 'the server refuses two puts of one key')
  t.match(refused.stderr, /INVALID/)
})

t.test('leases: grant, ttl with keys, keepalive, revoke, list', async (t) => {
  const granted = parseJson(await cli('--json', 'lease', 'grant', '60'))
  t.equal(granted.ttl, 60)
  const id = String(granted.id)
  t.equal((await cli('put', 'session/a', 'here', '--lease', id)).code, 0)
  const ttl = await cli('lease', 'ttl', id, '--keys')
  t.match(ttl.stdout, new RegExp(`lease ${id} granted with TTL\\(60s\\), remaining\\(`))
  t.match(ttl.stdout, /attached keys\(1\): session\/a/)
  t.match((await cli('lease', 'keepalive', id, '--once')).stdout, new RegExp(`lease ${id} keepalived with TTL\\(60\\)`))
  t.match((await cli('lease', 'list')).stdout, new RegExp(`found \\d+ leases\\n(.*\\n)*${id}\\n`))
  t.equal((await cli('lease', 'revoke', id)).stdout, `lease ${id} revoked (1 keys deleted)\n`)
  t.equal((await cli('get', 'session/a')).code, 1, 'the key went with its lease')
  const gone = await cli('lease', 'ttl', id)
  t.equal(gone.code, 1)
  t.match(gone.stderr, /LEASE_NOT_FOUND/)
})

t.test('members, status and health as tables and JSON', async (t) => {
  const members = await cli('members', 'list')
  t.equal(members.code, 0, members.stderr)
  t.match(members.stdout, /\| ID \| ROLE\s+\| ADDRESS/)
  t.match(members.stdout, new RegExp(`\\|\\s+1 \\| voter \\| ${cluster.peerUrls[0]}`))
  t.match(parseJson(await cli('--json', 'members')), { members: [{ id: 1, role: 'voter', address: cluster.peerUrls[0] }] })
  const status = await cli('status')
  t.equal(status.code, 0, status.stderr)
  t.match(status.stdout, new RegExp(`${url} \\|\\s+1 \\| leader`))
  const json = parseJson(await cli('--json', 'status'))
  t.match(json, [{ endpoint: url, status: { id: 1, role: 'leader', leader: 1 } }])
  t.ok(json[0].status.appliedIndex <= json[0].status.commitIndex)
  t.match((await cli('health')).stdout, new RegExp(`${url} \\| yes`))
})

t.test('compact, then reading a compacted revision fails with COMPACTED', async (t) => {
  const first = parseJson(await cli('--json', 'put', 'hist', 'v1'))
  const second = parseJson(await cli('--json', 'put', 'hist', 'v2'))
  t.equal((await cli('get', 'hist', '--rev', String(first.revision))).stdout, 'v1\n', 'history is there before compaction')
  t.equal((await cli('compact', String(second.revision))).stdout, `compacted revision ${second.revision}\n`)
  const old = await cli('get', 'hist', '--rev', String(first.revision))
  t.equal(old.code, 1)
  t.match(old.stderr, /COMPACTED/)
})

t.test('watch prints events as they happen and stops on Ctrl-C', async (t) => {
  const start = parseJson(await cli('--json', 'put', 'watched/x', 'before'))
  // From the next revision on: nothing can slip between the watch starting and the puts.
  const watch = new LiveCli([...E, 'watch', 'watched/', '--prefix', '--rev', String(start.revision + 1)])
  t.teardown(() => watch.stop())
  t.equal((await cli('put', 'watched/x', 'after')).code, 0)
  await watch.waitForOutput(/PUT\nwatched\/x\nafter\n/)
  t.equal((await cli('del', 'watched/x')).code, 0)
  await watch.waitForOutput(/DELETE\nwatched\/x\n/)
  t.notMatch(watch.stdout, /before/, 'nothing from before the start revision')
  const ended = await watch.stop()
  t.equal(ended.code, 0, `Ctrl-C ends the watch cleanly: ${watch.stderr}`)

  const json = new LiveCli([...E, '--json', 'watch', 'watched/x', '--rev', String(start.revision)])
  t.teardown(() => json.stop())
  const out = await json.waitForOutput(/"type":"delete"/)
  const batches = out.trim().split('\n').map((l) => JSON.parse(l))
  t.strictSame(batches.map((b) => b.events[0].type), ['put', 'put', 'delete'], 'history replayed in order, one batch per revision')
  t.equal(batches[0].revision, start.revision)
})

t.test('endpoints are tried in order: a dead first endpoint is skipped', async (t) => {
  const [deadPort] = await freePorts(1)
  const dead = `http://127.0.0.1:${deadPort}`
  const both = ['--endpoints', `${dead},${url}`]
  t.equal((await runInProcess([...both, 'put', 'failover', 'works'])).code, 0)
  const got = await runCli([...both, 'get', 'failover'])
  t.equal(got.stdout, 'works\n', got.stderr)
  const status = await runInProcess([...both, 'status'])
  t.equal(status.code, 1, 'status reports the endpoint that did not answer')
  t.match(status.stdout, new RegExp(`${dead} .*ECONNREFUSED`))
  t.match(status.stdout, new RegExp(`${url} \\|\\s+1 \\| leader`))
  const none = await runInProcess(['--endpoints', dead, 'get', 'failover'])
  t.equal(none.code, 1)
  t.match(none.stderr, /no endpoint answered.*ECONNREFUSED.*\[UNREACHABLE\]/)
  const env = await runInProcess(['get', 'failover'], { env: { METASTORE_ENDPOINTS: `${dead},${url}` } })
  t.equal(env.stdout, 'works\n', 'METASTORE_ENDPOINTS is the default')
})

t.test('the shell runs a script of commands from stdin and keeps a history file', async (t) => {
  const home = tempDir('home')
  t.teardown(home.remove)
  const script = [
    'put greeting "hello world"',
    'get greeting',
    '# a comment is skipped',
    "put quote 'it'\\''s'",
    'get quote',
    'get nothing-here',
    'help put',
    'exit',
    'get greeting',
  ].join('\n')
  const shell = await runCli(E, { input: `${script}\n`, env: { HOME: home.path } })
  t.equal(shell.stdout.split('\n').slice(0, 4).join('\n'), "OK\nhello world\nOK\nit's", shell.stderr)
  t.match(shell.stdout, /usage: put <key> <value>/)
  t.match(shell.stderr, /key not found: nothing-here/)
  t.equal(shell.stdout.match(/hello world/g)?.length, 1, 'nothing runs after exit')
  t.equal(shell.code, 1, 'a script ends with the worst exit code of its lines')
  const history = readFileSync(join(home.path, '.metastore_history'), 'utf8').trim().split('\n')
  t.strictSame(history, ['put greeting "hello world"', 'get greeting', "put quote 'it'\\''s'", 'get quote', 'get nothing-here', 'help put', 'exit'])

  const custom = join(home.path, 'custom-history')
  const second = await runCli(E, { input: 'get greeting\nexit 0\n', env: { HOME: home.path, METASTORE_HISTORY: custom } })
  t.equal(second.code, 0)
  t.equal(second.stdout, 'hello world\n')
  t.equal(readFileSync(custom, 'utf8'), 'get greeting\nexit 0\n', '$METASTORE_HISTORY names the file')
})

t.test('snapshot save streams the state to a file', async (t) => {
  const dir = tempDir('snapshot')
  t.teardown(dir.remove)
  const file = join(dir.path, 'backup.snap')
  const saved = await cli('snapshot', 'save', file)
  t.equal(saved.code, 0, saved.stderr)
  t.match(saved.stdout, /snapshot saved to .*backup\.snap \(.*, sha256 [0-9a-f]{64}\)/)
  t.ok(statSync(file).size > 0)
  t.notOk(existsSync(`${file}.part`), 'no partial file left')
})

t.test('usage errors exit 2 and say what is wrong', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['get'], /missing <key>/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['get', 'k', '--nope'], /unknown flag --nope/],
    [['get', 'k', '--rev', 'ten'], /--rev must be a non-negative integer/],
    [['lease', 'grant', '0'], /<ttl> must be positive/],
    [['lease', 'renew', '5'], /unknown lease subcommand/],
    [['members', 'add', '4', 'not a url'], /<peer URL> must be a URL/],
    [['txn', '--compare', 'version(k) >= 1'], /operator is =, !=, < or >/],
    [['--endpoints', 'ftp://x', 'get', 'k'], /--endpoints/],
    [['put', 'k'], /missing <value>/],
    [['inspect'], /missing <data dir>/],
  ]
  for (const [args, message] of cases) {
    const r = await runInProcess(args)
    t.equal(r.code, 2, args.join(' '))
    t.match(r.stderr, message, args.join(' '))
  }
  const help = await runInProcess(['help', 'txn'])
  t.equal(help.code, 0)
  t.match(help.stdout, /usage: txn --compare/)
})
