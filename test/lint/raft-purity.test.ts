import t from 'tap'
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { raftPurityOffences } from '../../scripts/raft-purity.js'

t.test('lib/raft imports nothing from Node and uses no clock, randomness or timers', async (t) => {
  t.same(raftPurityOffences(process.cwd()), [])
})

t.test('the check finds offences', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'purity-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  mkdirSync(join(root, 'lib', 'raft'), { recursive: true })
  writeFileSync(join(root, 'lib', 'raft', 'bad.ts'), "import { readFileSync } from 'node:fs'\nexport const t = Date.now() + Math.random()\n")
  const offences = raftPurityOffences(root)
  t.equal(offences.length, 3, offences.join('\n'))
})
