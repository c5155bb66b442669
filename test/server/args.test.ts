// The `metastore` command line: raftexample's flags as written, the defaults, and a clear exit 2
// for anything it cannot run with.
import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { parseArgs, UsageError } from '../../examples/server/args.js'
import { deriveClusterId } from '../../examples/server/options.js'
import { SERVER_MAIN } from './helpers.js'

const run = promisify(execFile)
const CLUSTER = 'http://127.0.0.1:12379,http://127.0.0.1:22379,http://127.0.0.1:32379'

t.test('the raftexample form parses as written, with the defaults', async (t) => {
  const parsed = parseArgs(['--id', '1', '--cluster', CLUSTER, '--port', '12380'])
  t.equal(parsed.kind, 'run')
  if (parsed.kind !== 'run') return
  const o = parsed.options
  t.equal(o.id, 1)
  t.same(o.peerUrls, CLUSTER.split(','))
  t.equal(o.port, 12380)
  t.equal(o.host, '127.0.0.1')
  t.equal(o.dataDir, './data/1')
  t.equal(o.storage, 'leveldb')
  t.equal(o.join, false)
  t.equal(o.logLevel, 'info')
  t.equal(o.clusterId, deriveClusterId(CLUSTER.split(',')))
})

t.test('one dash as Go flags take them: -id 1 -cluster ... -port 12380 -join', async (t) => {
  const parsed = parseArgs(['-id', '4', `-cluster=${CLUSTER},http://127.0.0.1:42379`, '-port', '42380', '-join'])
  t.equal(parsed.kind, 'run')
  if (parsed.kind !== 'run') return
  t.equal(parsed.options.id, 4)
  t.equal(parsed.options.port, 42380)
  t.equal(parsed.options.join, true)
  t.equal(parsed.options.peerUrls.length, 4)
  t.throws(() => parseArgs(['-id', '1', '-cluster', CLUSTER, '-port', '12380', '-nope']), UsageError, 'an unknown flag is still refused')
})

t.test('every flag, in --flag=value form too', async (t) => {
  const parsed = parseArgs(
    [
      '--id=4',
      `--cluster=${CLUSTER},http://127.0.0.1:42379`,
      '--port=42380',
      '--join',
      '--data',
      '/tmp/x',
      '--storage',
      'memory',
      '--host',
      '0.0.0.0',
      '--tick-ms',
      '50',
      '--election-tick',
      '20',
      '--snapshot-every',
      '500',
      '--request-timeout-ms',
      '2000',
      '--max-request-bytes',
      '65536',
      '--log-level',
      'debug',
    ],
    { METASTORE_SECRET: 's3cret' },
  )
  if (parsed.kind !== 'run') throw new Error('expected run')
  t.match(parsed.options, {
    id: 4,
    port: 42380,
    join: true,
    dataDir: '/tmp/x',
    storage: 'memory',
    host: '0.0.0.0',
    tickMs: 50,
    electionTick: 20,
    snapshotEvery: 500,
    requestTimeoutMs: 2000,
    maxRequestBytes: 65536,
    logLevel: 'debug',
    secret: 's3cret',
  })
  // A joining node, with a longer list, derives the initial members' cluster id.
  t.equal(parsed.options.clusterId, deriveClusterId(CLUSTER.split(',')))
  t.same(parseArgs(['--help']), { kind: 'help' })
  t.same(parseArgs(['-h']), { kind: 'help' })
  t.same(parseArgs(['--version']), { kind: 'version' })
})

t.test('bad command lines are refused with a message that says what is wrong', async (t) => {
  const bad: Array<[string[], RegExp]> = [
    [['--cluster', CLUSTER], /--id is required/],
    [['--id', '1'], /--cluster is required/],
    [['--id', '0', '--cluster', CLUSTER], /--id must be an integer/],
    [['--id', '4', '--cluster', CLUSTER], /--id 4 has no peer URL/],
    [['--id', '1', '--cluster', 'ftp://h:1'], /must start with http/],
    [['--id', '1', '--cluster', 'http://h'], /needs a host and a port/],
    [['--id', '1', '--cluster', 'http://h:1,tcp://h:2'], /mixes schemes/],
    [['--id', '1', '--cluster', 'http://h:1,http://h:1'], /twice/],
    [['--id', '1', '--cluster', CLUSTER, '--port', 'x'], /--port must be an integer/],
    [['--id', '1', '--cluster', CLUSTER, '--bogus'], /unknown flag --bogus/],
    [['--id', '1', '--cluster', CLUSTER, '--port'], /--port needs a value/],
    [['--id', '1', '--cluster', CLUSTER, '--storage', 'floppy'], /--storage must be one of/],
    [['--id', '1', '--cluster', CLUSTER, '--log-level', 'loud'], /--log-level must be one of/],
    [['--id', '1', '--cluster', 'https://h:1'], /need --tls-key and --tls-cert/],
    [['--id', '1', '--cluster', CLUSTER, '--tls-key', '/no/such/file'], /cannot read/],
    [['--id', '1', '--cluster', CLUSTER, '--secret', ''], /--secret is empty/],
    [['--id', '1', '--cluster', CLUSTER, '--join', '--restore', 'f'], /cannot --join/],
    [['stray'], /unexpected argument/],
  ]
  for (const [argv, message] of bad) t.throws(() => parseArgs(argv), { name: 'UsageError', message }, argv.join(' '))
  t.ok(new UsageError('x') instanceof Error)
})

t.test('the command: --help exits 0, --version prints it, a bad flag exits 2', async (t) => {
  const help = await run(process.execPath, [SERVER_MAIN, '--help'])
  t.match(help.stdout, /usage: metastore --id <n> --cluster/)
  t.match(help.stdout, /--join/)
  const version = await run(process.execPath, [SERVER_MAIN, '--version'])
  t.match(version.stdout, /^\d+\.\d+\.\d+/)
  const bad = await run(process.execPath, [SERVER_MAIN, '--id', '1', '--cluster', CLUSTER, '--bogus']).then(
    () => undefined,
    (err: { code: number; stderr: string }) => err,
  )
  t.equal(bad?.code, 2)
  t.match(bad?.stderr, /unknown flag --bogus/)
})
