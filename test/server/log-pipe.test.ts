// A node whose log reader goes away (its launcher killed, a closed pipe) keeps serving: a log
// line written to a broken stderr must not end the process.
import { spawn } from 'node:child_process'
import t from 'tap'
import { call, FAST, freePorts, SERVER_MAIN, waitFor } from './helpers.js'

t.test('a closed stderr does not stop the node', async (t) => {
  const [peerPort, clientPort, newPeerPort] = await freePorts(3)
  const child = spawn(
    process.execPath,
    [SERVER_MAIN, '--id', '1', '--cluster', `http://127.0.0.1:${peerPort}`, '--port', String(clientPort), '--storage', 'memory', '--request-timeout-ms', '1500', ...FAST],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  let log = ''
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (log += c))
  const url = `http://127.0.0.1:${clientPort}`
  await waitFor('the node to be healthy', async () => (await call(`${url}/health`, { timeoutMs: 2000 })).status === 200)
  t.match(log, /serving clients/)

  // The reader goes away; the node's next lines meet a broken pipe.
  child.stderr!.destroy()
  const add = await call(`${url}/2`, { method: 'POST', body: `http://127.0.0.1:${newPeerPort}` })
  t.equal(add.status, 204, 'a membership change (which logs) is answered')
  const put = await call(`${url}/k`, { method: 'PUT', body: 'v', timeoutMs: 20_000 })
  t.equal(put.status, 503, 'without node 2 there is no majority (and the node says so)')
  t.equal(child.exitCode, null, 'the process is still running')
  t.equal((await call(`${url}/v1/status`)).status, 200, 'and still serving')
})
