import t from 'tap'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
// The compiled example, wherever this compiled test sits (build/test/testing/ -> build/examples/).
const example = fileURLToPath(new URL('../../examples/unit-tests.js', import.meta.url))

t.test('examples/unit-tests runs its tests against in-process clusters and exits 0', async (t) => {
  // execFile rejects on a non-zero exit code (and kills the child after the timeout).
  const { stdout } = await run(process.execPath, [example], { timeout: 120_000 })
  t.match(stdout, /^ok - one claim wins when workers race through different nodes$/m)
  t.match(stdout, /^ok - a claim outlives the crash of the leader$/m)
  t.match(stdout, /^ok - a worker cut off from the majority cannot claim$/m)
  t.match(stdout, /^ok - a claim held by a dead worker expires with its lease$/m)
  t.match(stdout, /^all passed$/m)
})
