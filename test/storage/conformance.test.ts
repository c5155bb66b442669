// The shared storage conformance suite against every engine: memory (memoryStorage), LevelDB,
// RocksDB, and a memory-level database the user creates and keeps.
import t, { type Test } from 'tap'
import { MemoryLevel } from 'memory-level'
import { suite, type ConformanceAssert, type ConformanceTarget } from '../../lib/storage/conformance.js'
import { LevelLogStore } from '../../lib/storage/level-log-store.js'
import { levelStorage } from '../../lib/storage/level-engine.js'
import { memoryStorage } from '../../lib/storage/memory-engine.js'
import { rocksdbStorage } from '../../lib/storage/rocksdb-engine.js'
import { tempDir } from './temp-dir.js'

const register =
  (tt: Test) =>
  (name: string, fn: (a: ConformanceAssert) => Promise<void>): unknown =>
    tt.test(name, (sub) => fn(sub))

t.test('memory engine', async (tt) => {
  suite({
    test: register(tt),
    factory: (): ConformanceTarget => ({ open: (options) => memoryStorage(options), destroy: async () => {} }),
    supports: { reopen: false },
  })
})

t.test('LevelDB engine', async (tt) => {
  suite({
    test: register(tt),
    factory: (): ConformanceTarget => {
      const dir = tempDir('level-conformance')
      return { open: (options) => levelStorage(dir.path, options), destroy: async () => dir.remove() }
    },
  })
})

t.test('RocksDB engine', async (tt) => {
  suite({
    test: register(tt),
    factory: (): ConformanceTarget => {
      const dir = tempDir('rocks-conformance')
      return { open: (options) => rocksdbStorage(dir.path, options), destroy: async () => dir.remove() }
    },
  })
})

t.test('a memory-level database the user owns', async (tt) => {
  const dbs: MemoryLevel[] = []
  suite({
    test: register(tt),
    factory: (): ConformanceTarget => {
      // The same database across reopens: the store must not close it (closeDb is not set).
      const db = new MemoryLevel()
      dbs.push(db)
      return {
        open: (options) => LevelLogStore.open(db, options),
        destroy: async () => {
          tt.equal(db.status, 'open', 'the store left the user database open')
          await db.close()
        },
      }
    },
  })
})
