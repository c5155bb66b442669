// A second process for engines.test.js. `node engine-child.js <engine> <dir> <mode>`:
// - `open`: tries to open the store and prints `opened` or `error <code>`, closes, and exits;
// - `write-and-close`: opens, writes, reads old entries back, closes, prints `closed`, and then
//   must exit by itself (nothing may keep the event loop alive after close()).
// Run without arguments (as tap does with every file under test/) it does nothing.
import { MetastoreError } from '../../lib/errors.js'
import { readAll } from '../../lib/storage/conformance.js'
import { makeEntries, openEngine, type CrashEngine } from './crash-model.js'

const [engine, dir, mode] = process.argv.slice(2)

if (engine === undefined || dir === undefined) {
  console.log('1..0 # SKIP helper process of engines.test.js')
} else if (mode === 'open') {
  try {
    const store = await openEngine(engine as CrashEngine, dir)
    console.log('opened')
    await store.close()
  } catch (err) {
    console.log(`error ${err instanceof MetastoreError ? err.code : String(err)}`)
  }
} else {
  const store = await openEngine(engine as CrashEngine, dir)
  for (let i = 0; i < 20; i++) await store.save({ entries: makeEntries(store.lastIndex() + 1, 10, 1) })
  await readAll(store, 1, store.lastIndex() + 1)
  await store.compact(50)
  await store.close()
  console.log('closed')
}
