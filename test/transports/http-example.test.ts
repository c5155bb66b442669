// examples/mount-http-transport runs as written: a child process that must print what it did and
// exit by itself (no handle left open).
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const example = fileURLToPath(new URL('../../examples/mount-http-transport.js', import.meta.url))

t.test('examples/mount-http-transport runs and exits by itself', async (t) => {
  const child = spawn(process.execPath, [example], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
  // Bounded generously: a hang (a handle left open) fails here instead of stalling the run.
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)))
  clearTimeout(timer)
  t.equal(code, 0, `exits with 0 by itself${stderr ? `; stderr: ${stderr}` : ''}`)
  t.match(stdout, /services on ports \d+, \d+, \d+/)
  t.match(stdout, /leader: node [123]/)
  t.match(stdout, /put greeting at revision \d+/)
  t.match(stdout, /node 3 GET \/kv\/greeting: hello from node 2/, 'the value written on node 2 is read through node 3’s own route')
  t.match(stdout, /node 1 GET \/health: ok/, 'the app’s own route is served next to the transport')
  t.match(stdout, /closed\n$/, 'everything closed')
})
