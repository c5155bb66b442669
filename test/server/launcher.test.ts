// `npm start`'s launcher (examples/cluster/main.js) on free ports: three healthy nodes, the
// endpoints and a curl line printed, a dead node reported, and a clean stop on SIGTERM.
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { call, CLUSTER_MAIN, FAST, freePorts, putEventually, waitFor } from './helpers.js'

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

t.test('the cluster launcher starts three nodes, reports a death, and stops cleanly', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'metastore-launcher-'))
  const ports = await freePorts(6)
  const child = spawn(
    process.execPath,
    [CLUSTER_MAIN, '--client-ports', ports.slice(0, 3).join(','), '--peer-ports', ports.slice(3).join(','), '--data', dir, ...FAST],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c))
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  let pids: number[] = []
  t.teardown(async () => {
    if (child.exitCode === null) child.kill('SIGKILL')
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL')
    await exited
    rmSync(dir, { recursive: true, force: true })
  })

  await waitFor('the launcher to report the cluster up', () => stdout.includes('cluster is up'), 60_000).catch((err: Error) => {
    throw new Error(`${err.message}\nstdout: ${stdout}\nstderr: ${stderr}`)
  })
  pids = [...stdout.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]))
  t.equal(pids.length, 3, 'one process per node')
  for (const port of ports.slice(0, 3)) t.match(stdout, `client http://127.0.0.1:${port}`)
  t.match(stdout, /curl -L http:\/\/127\.0\.0\.1:\d+\/my-key -XPUT -d hello/)
  t.match(stderr, /\[node 1\] .*serving clients/, 'node logs are labelled')

  const [c1, c2] = ports.slice(0, 2).map((p) => `http://127.0.0.1:${p}`)
  await putEventually(c1, 'my-key', 'hello')
  t.equal((await call(`${c2}/my-key`)).text, 'hello')

  process.kill(pids[2], 'SIGKILL')
  await waitFor('the launcher to report the dead node', () => /node 3 died/.test(stderr))
  t.equal(child.exitCode, null, 'the launcher keeps the others running')

  child.kill('SIGTERM')
  t.equal(await exited, 0, 'SIGTERM stops the rest cleanly: exit 0')
  t.match(stderr, /cluster: stopped/)
  for (const pid of pids) t.notOk(alive(pid), `node process ${pid} is gone`)
})
