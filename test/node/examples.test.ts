import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const run = promisify(execFile)

t.test('examples/embedded runs as written and exits by itself', async (t) => {
  const { stdout } = await run(process.execPath, ['build/examples/embedded.js'], { timeout: 60_000 })
  t.match(stdout, /leader: node [123]/)
  // etcd semantics: an empty store is at revision 1; two puts, then the transaction.
  t.match(stdout, /transfer committed at revision 4/)
  t.match(stdout, /account\/ada: 70/)
  t.match(stdout, /account\/bob: 80/)
})
