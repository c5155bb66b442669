// abstract-level's own compliance suite, run with tape (its native runner, whose `t.same` is strict
// where tap's is not) against the RocksDB adapter. tape prints TAP, which tap reads as this file's
// results.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tape from 'tape'
import suite from 'abstract-level/test/index.js'
import { RocksLevel } from '../../lib/storage/rocksdb-level.js'
import { loadRocksBinding } from '../../lib/storage/rocksdb-binding.js'

let available = true
try {
  loadRocksBinding()
} catch {
  available = false
}

if (!available) {
  console.log('1..0 # SKIP rocksdb-native is not installed')
} else {
  const root = mkdtempSync(join(tmpdir(), 'metastore-rocks-compliance-'))
  let n = 0
  tape.onFinish(() => rmSync(root, { recursive: true, force: true }))
  tape.onFailure(() => rmSync(root, { recursive: true, force: true }))
  suite({
    test: tape,
    factory: (options?: object) => new RocksLevel(join(root, `db-${n++}`), options),
  })
}
