// Corruption test: bytes flipped and files truncated in a closed LevelDB or RocksDB directory, and
// records damaged through the database itself. Opening must either recover a consistent prefix of
// what was written (every entry it then serves is the one written at its index) or fail with
// CORRUPT_LOG. Nothing else: no other error, no wrong entry.
import { cpSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { MemoryLevel } from 'memory-level'
import { MetastoreError } from '../../lib/errors.js'
import type { HardState } from '../../lib/raft/types.js'
import { readAll } from '../../lib/storage/conformance.js'
import type { LevelDatabase } from '../../lib/storage/level-database.js'
import { LevelLogStore } from '../../lib/storage/level-log-store.js'
import { entryData, makeEntries, openEngine, type CrashEngine } from './crash-model.js'
import { tempDir } from './temp-dir.js'

const TRIALS = Number(process.env.CORRUPTION_TRIALS ?? 40)
const OPEN_TIMEOUT_MS = 30_000

/** The history written: append-only, so every index has exactly one right (term, data). */
interface History {
  terms: number[] // terms[i] for index i
  hardStates: HardState[]
}

async function writeHistory(open: () => Promise<LevelLogStore>): Promise<History> {
  const terms = [0]
  const hardStates: HardState[] = []
  let store = await open()
  let term = 1
  for (let k = 0; k < 48; k++) {
    if (k === 24) {
      // Reopen halfway, so that the first half moves from the WAL into table files.
      await store.close()
      store = await open()
    }
    if (k % 7 === 6) term++
    const start = terms.length
    const count = 1 + ((k * 5) % 11)
    // Commit lags well behind, so that damage can land in the uncommitted tail (which is cut).
    const hs = { term, vote: 1, commit: Math.max(0, start - 60) }
    await store.save({ entries: makeEntries(start, count, term), hardState: hs })
    for (let i = 0; i < count; i++) terms.push(term)
    hardStates.push(hs)
  }
  await store.close()
  return { terms, hardStates }
}

/** Opens, then checks that whatever is served is a prefix of `history`. Returns a description. */
async function openAndCheck(t: Test, open: () => Promise<LevelLogStore>, history: History, what: string): Promise<string> {
  let store: LevelLogStore
  try {
    store = await withTimeout(open(), what)
  } catch (err) {
    if (err instanceof MetastoreError && err.code === 'CORRUPT_LOG') {
      if (process.env.CORRUPTION_VERBOSE) console.error(what, '=>', err.message.slice(0, 200))
      return 'CORRUPT_LOG'
    }
    t.fail(`${what}: open failed with something other than CORRUPT_LOG: ${String(err)} ${(err as Error).stack ?? ''}`)
    return 'failed'
  }
  try {
    const hs = store.hardState
    const knownHardState = hs.term === 0 || history.hardStates.some((h) => h.term === hs.term && h.vote === hs.vote && h.commit === hs.commit)
    if (!knownHardState) t.fail(`${what}: hard state ${JSON.stringify(hs)} was never written`)
    if (store.firstIndex() !== 1) t.fail(`${what}: first index ${store.firstIndex()}`)
    if (store.lastIndex() >= history.terms.length) t.fail(`${what}: last index ${store.lastIndex()} was never written`)
    if (store.lastIndex() < hs.commit) t.fail(`${what}: log ends at ${store.lastIndex()} below commit ${hs.commit}`)
    let entries
    try {
      entries = await readAll(store, 1, store.lastIndex() + 1)
    } catch (err) {
      // Damage found only when reading back: refused, never served.
      if (err instanceof MetastoreError && err.code === 'CORRUPT_LOG') return 'CORRUPT_LOG on read'
      throw err
    }
    for (const e of entries) {
      const term = history.terms[e.index]
      if (e.term !== term || Buffer.compare(Buffer.from(e.data), Buffer.from(entryData(e.index, term))) !== 0) {
        t.fail(`${what}: entry ${e.index} is wrong (term ${e.term}, expected ${term})`)
        break
      }
      if (store.term(e.index) !== term) t.fail(`${what}: term(${e.index}) is wrong`)
    }
    if (process.env.CORRUPTION_VERBOSE) console.error(what, '=> open', store.lastIndex(), JSON.stringify(hs), JSON.stringify(store.recovery))
    return store.lastIndex() === history.terms.length - 1 ? 'intact' : `prefix to ${store.lastIndex()}`
  } finally {
    await store.close()
  }
}

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: open did not finish in ${OPEN_TIMEOUT_MS} ms`)), OPEN_TIMEOUT_MS)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

function prng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1
  return (n) => {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    return (s >>> 0) % n
  }
}

/** The engine's files worth damaging (not the lock or its text log of events). */
function dataFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => !/^(LOCK|LOG(\.old.*)?)$/.test(name) && statSync(join(dir, name)).isFile())
    .sort()
}

for (const engine of ['level', 'rocksdb'] as CrashEngine[]) {
  t.test(`${engine}: damaged files recover a prefix or fail with CORRUPT_LOG`, async (t) => {
    const root = tempDir(`corrupt-${engine}`)
    t.teardown(() => root.remove())
    const pristine = join(root.path, 'pristine')
    const history = await writeHistory(() => openEngine(engine, pristine))
    // Copied before anything opens it again: opening LevelDB moves its write-ahead log into a table.
    const template = join(root.path, 'template')
    cpSync(pristine, template, { recursive: true })
    t.equal(await openAndCheck(t, () => openEngine(engine, pristine), history, 'undamaged'), 'intact', 'the undamaged copy opens intact')

    const random = prng(engine === 'level' ? 17 : 29)
    const outcomes = new Map<string, number>()
    for (let trial = 0; trial < TRIALS; trial++) {
      const dir = join(root.path, `trial-${trial}`)
      cpSync(template, dir, { recursive: true })
      const files = dataFiles(dir)
      // A third of the trials damage the newest write-ahead log: a torn tail is what a crash leaves.
      const wals = files.filter((name) => name.endsWith('.log'))
      const file = join(dir, wals.length > 0 && random(3) === 0 ? wals[wals.length - 1] : files[random(files.length)])
      const bytes = readFileSync(file)
      let what: string
      if (random(3) === 0 || bytes.length === 0) {
        const length = bytes.length === 0 ? 0 : random(bytes.length)
        truncateSync(file, length)
        what = `trial ${trial}: ${file.slice(dir.length + 1)} truncated from ${bytes.length} to ${length} bytes`
      } else {
        const flips = 1 + random(4)
        const at: number[] = []
        for (let f = 0; f < flips; f++) {
          const i = random(bytes.length)
          bytes[i] ^= 1 + random(255)
          at.push(i)
        }
        writeFileSync(file, bytes)
        what = `trial ${trial}: ${file.slice(dir.length + 1)} (${bytes.length} bytes) flipped at ${at.join(', ')}`
      }
      const outcome = await openAndCheck(t, () => openEngine(engine, dir), history, what)
      outcomes.set(outcome.replace(/\d+$/, 'N'), (outcomes.get(outcome.replace(/\d+$/, 'N')) ?? 0) + 1)
    }
    t.pass(`outcomes over ${TRIALS} trials: ${JSON.stringify(Object.fromEntries(outcomes))}`)
  })
}

t.test('records damaged through the database: prefix or CORRUPT_LOG, never a wrong entry', async (t) => {
  const random = prng(5)
  const outcomes = new Map<string, number>()
  for (let trial = 0; trial < 60; trial++) {
    const db = new MemoryLevel()
    const history = await writeHistory(() => LevelLogStore.open(db, { maxChunkEntries: 8 }))
    const records = await allRecords(db)
    const [key, value] = records[random(records.length)]
    const damaged = Buffer.from(value)
    if (random(4) === 0) {
      await db.put(key, damaged.subarray(0, random(damaged.length)), { keyEncoding: 'buffer', valueEncoding: 'buffer' })
    } else {
      damaged[random(damaged.length)] ^= 1 + random(255)
      await db.put(key, damaged, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
    }
    const what = `trial ${trial}: record ${key.toString('hex')}`
    const outcome = await openAndCheck(t, () => LevelLogStore.open(db, { maxChunkEntries: 8 }), history, what)
    outcomes.set(outcome.replace(/\d+$/, 'N'), (outcomes.get(outcome.replace(/\d+$/, 'N')) ?? 0) + 1)
    await db.close()
  }
  t.ok((outcomes.get('CORRUPT_LOG') ?? 0) > 0, `damage at or below commit is refused: ${JSON.stringify(Object.fromEntries(outcomes))}`)
  t.ok((outcomes.get('prefix to N') ?? 0) > 0, 'damage past commit is cut')
})

async function allRecords(db: LevelDatabase): Promise<Array<[Buffer, Buffer]>> {
  const out: Array<[Buffer, Buffer]> = []
  for await (const [key, value] of db.iterator({ keyEncoding: 'buffer', valueEncoding: 'buffer' })) {
    out.push([key as Buffer, value as Buffer])
  }
  return out
}
