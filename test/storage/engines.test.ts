// The built-in engines as processes see them: a directory is locked while open (in this process
// and in others), a process exits by itself once its store is closed, and RocksDB without its
// optional binding fails with a clear error.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { MetastoreError } from '../../lib/errors.js'
import { loadRocksBinding } from '../../lib/storage/rocksdb-binding.js'
import { levelStorage } from '../../lib/storage/level-engine.js'
import { writeBatch, type ExtraOperation } from '../../lib/storage/level-database.js'
import { rocksdbStorage } from '../../lib/storage/rocksdb-engine.js'
import { openEngine, type CrashEngine } from './crash-model.js'
import { tempDir } from './temp-dir.js'

const CHILD = fileURLToPath(new URL('./engine-child.js', import.meta.url))
const CHILD_TIMEOUT_MS = 30_000

/** Runs the helper; resolves with its output, or with `timed out` if it had not exited in time. */
function child(engine: CrashEngine, dir: string, mode: string): Promise<{ out: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CHILD, engine, dir, mode], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let timedOut = false
    p.stdout.on('data', (d: Buffer) => (out += d.toString()))
    p.stderr.on('data', (d: Buffer) => (out += d.toString()))
    const timer = setTimeout(() => {
      timedOut = true
      p.kill('SIGKILL')
    }, CHILD_TIMEOUT_MS)
    p.once('error', reject)
    p.once('close', (code) => {
      clearTimeout(timer)
      resolve({ out: timedOut ? `${out}timed out` : out.trim(), code })
    })
  })
}

async function codeOf(work: () => Promise<unknown>): Promise<string> {
  try {
    await work()
    return 'no error'
  } catch (err) {
    return err instanceof MetastoreError ? err.code : String(err)
  }
}

for (const engine of ['level', 'rocksdb'] as CrashEngine[]) {
  t.test(`${engine}: an open directory is LOCKED to a second process and to a second open`, async (t) => {
    const dir = tempDir(`lock-${engine}`)
    t.teardown(() => dir.remove())
    const store = await openEngine(engine, dir.path)
    try {
      t.strictSame(await child(engine, dir.path, 'open'), { out: 'error LOCKED', code: 0 }, 'another process gets LOCKED')
      t.equal(await codeOf(() => openEngine(engine, dir.path)), 'LOCKED', 'a second open in this process gets LOCKED')
    } finally {
      await store.close()
    }
    t.strictSame(await child(engine, dir.path, 'open'), { out: 'opened', code: 0 }, 'after close() the directory is free')
  })

  t.test(`${engine}: a process exits by itself after close()`, async (t) => {
    const dir = tempDir(`exit-${engine}`)
    t.teardown(() => dir.remove())
    // The child does not call process.exit: if a handle were left open it would hang until killed.
    t.strictSame(await child(engine, dir.path, 'write-and-close'), { out: 'closed', code: 0 }, 'exited on its own')
    const store = await openEngine(engine, dir.path)
    t.equal(store.lastIndex(), 200, 'and what it wrote is there')
    t.equal(store.firstIndex(), 51, 'compaction included')
    await store.close()
  })
}

t.test('RocksDB without its optional binding is a clear STORAGE_UNAVAILABLE error', async (t) => {
  let error: unknown
  try {
    loadRocksBinding('rocksdb-native-that-is-not-installed')
  } catch (err) {
    error = err
  }
  t.ok(error instanceof MetastoreError, 'a MetastoreError')
  t.equal((error as MetastoreError).code, 'STORAGE_UNAVAILABLE', 'coded STORAGE_UNAVAILABLE')
  t.match((error as Error).message, /npm install rocksdb-native-that-is-not-installed/, 'saying how to install it')
})

t.test('engines check their arguments', async (t) => {
  t.equal(await codeOf(() => levelStorage('')), 'TypeError: levelStorage needs a directory path', 'levelStorage')
  t.equal(await codeOf(() => rocksdbStorage('')), 'TypeError: rocksdbStorage needs a directory path', 'rocksdbStorage')
})

t.test('level: writes through reused native batches carry exactly their own operations', async (t) => {
  const dir = tempDir('native-batch')
  t.teardown(() => dir.remove())
  const store = await levelStorage(dir.path)
  t.teardown(() => store.close())
  const db = store.db
  const key = (s: string): Uint8Array => new TextEncoder().encode(`native/${s}`)
  const put = (s: string, v = s): ExtraOperation => ({ type: 'put', key: key(s), value: new TextEncoder().encode(v), keyEncoding: 'view', valueEncoding: 'view' })
  const del = (s: string): ExtraOperation => ({ type: 'del', key: key(s), keyEncoding: 'view' })
  const read = async (s: string): Promise<string | undefined> => {
    const v = (await db.get(key(s), { keyEncoding: 'view', valueEncoding: 'utf8' })) as string | undefined
    return v ?? undefined
  }
  await writeBatch(db, [put('a')], true)
  // Deleted outside writeBatch: a batch reused without being cleared would put it back.
  await db.del(key('a'), { keyEncoding: 'view' })
  await writeBatch(db, [put('b')], false)
  t.equal(await read('a'), undefined, 'a reused batch carries nothing of an earlier write')
  t.equal(await read('b'), 'b')
  // Writes in flight at once each take a batch of their own.
  await Promise.all(Array.from({ length: 12 }, (_, i) => writeBatch(db, [put(`c${i}`), del('b')], i % 2 === 0)))
  t.same(await Promise.all(Array.from({ length: 12 }, (_, i) => read(`c${i}`))), Array.from({ length: 12 }, (_, i) => `c${i}`), 'concurrent writes all land')
  t.equal(await read('b'), undefined)
  // A write of 2 MiB, then small ones: the large batch is let go, the small ones carry only themselves.
  const big = 'x'.repeat(64 * 1024)
  await writeBatch(db, Array.from({ length: 32 }, (_, i) => put(`big${i}`, big)), false)
  await db.del(key('big0'), { keyEncoding: 'view' })
  for (let i = 0; i < 20; i++) await writeBatch(db, [put(`small${i}`)], false)
  t.equal(await read('big0'), undefined, 'the deleted large value stays deleted')
  t.equal((await read('big31'))?.length, big.length, 'the others are there')
  t.equal(await read('small19'), 'small19')
  await t.rejects(writeBatch(db, [{ type: 'put', key: undefined as unknown as Uint8Array, value: new Uint8Array(1) }], false), 'a malformed operation is refused (by abstract-level)')
  t.equal(await read('small0'), 'small0', 'and nothing else changed')
})
