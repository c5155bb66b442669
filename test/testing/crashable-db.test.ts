import t from 'tap'
import { syncOptions } from '../../lib/storage/level-database.js'
import { CrashableMemoryDb, type DiskImage } from '../../lib/testing/crashable-db.js'

const synced = syncOptions<string, string>(true)

async function contents(source: CrashableMemoryDb | DiskImage): Promise<Record<string, string>> {
  const pairs = source instanceof CrashableMemoryDb ? await source.image() : source
  const out: Record<string, string> = {}
  for (const [k, v] of pairs) out[k.toString('utf8')] = v.toString('utf8')
  return out
}

t.test('a crash keeps the writes a synced write followed, in order, and loses the rest', async (t) => {
  const crashable = await CrashableMemoryDb.open()
  const db = crashable.db
  await db.put('a', '1')
  await db.put('b', '1')
  await db.batch([{ type: 'put', key: 'c', value: '1' }, { type: 'del', key: 'b' }], synced)
  await db.put('a', '2')
  await db.put('d', '1')
  t.same(await contents(crashable), { a: '2', c: '1', d: '1' }, 'every write is visible at once')
  const image = await crashable.crash()
  t.ok(crashable.crashed)
  t.same(await contents(image), { a: '1', c: '1' }, 'what followed the last synced write is lost')
  await t.rejects(db.put('e', '1', synced), 'no write after the crash')
  await db.close()

  const next = await CrashableMemoryDb.open(image)
  t.same(await contents(next), { a: '1', c: '1' }, 'the next life starts from the image')
  await next.db.put('e', '1', synced)
  t.same(await contents(await next.crash()), { a: '1', c: '1', e: '1' })
  await next.db.close()
})

t.test('sublevel writes and range clears are covered too', async (t) => {
  const crashable = await CrashableMemoryDb.open()
  const sub = crashable.db.sublevel<string, string>('s', { keyEncoding: 'utf8', valueEncoding: 'utf8' })
  await sub.batch(['x1', 'x2', 'x3', 'y1'].map((key) => ({ type: 'put' as const, key, value: key })))
  await sub.clear({ gte: 'x2', lt: 'y' })
  await sub.put('z', 'z', synced)
  await sub.clear({ gte: 'y' })
  const image = await crashable.crash()
  const survived = await contents(image)
  t.same(
    Object.keys(survived).map((k) => k.replace(/^!s!/, '')),
    ['x1', 'y1', 'z'],
    'the synced clear is replayed; the unsynced one is lost',
  )
  await crashable.db.close()
})
