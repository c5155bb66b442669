// The process the crash test kills: it appends with sync, several saves in flight at once (group
// commit), now and then overwriting an uncommitted suffix with a new term or compacting, and
// prints each operation before it starts and again once it is durable. See crash-model.ts.
//
// Run by crash.test.js as `node crash-child.js <engine> <dir> <seed>`; run without arguments (as
// tap does with every file under test/) it does nothing.
import { makeEntries, openEngine, type CrashEngine } from './crash-model.js'

const [engine, dir, seedText] = process.argv.slice(2)

if (engine === undefined || dir === undefined) {
  console.log('1..0 # SKIP helper process of crash.test.js')
} else {
  await main(engine as CrashEngine, dir, Number(seedText ?? 1))
}

async function main(engine: CrashEngine, path: string, seed: number): Promise<void> {
  let state = seed >>> 0 || 1
  const random = (n: number): number => {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    return (state >>> 0) % n
  }
  const store = await openEngine(engine, path)
  const hs = store.hardState
  let last = store.lastIndex()
  let first = store.firstIndex()
  let term = Math.max(hs.term, last > 0 ? store.term(last) : 0, 1)
  let commit = hs.commit
  process.stdout.write(`open ${first} ${last} ${hs.term} ${commit}\n`)

  const inFlight = new Set<Promise<void>>()
  for (let k = 0; ; k++) {
    while (inFlight.size >= 4) await Promise.race(inFlight)
    let op: Promise<void>
    if (k % 40 === 39 && commit - 5 >= first) {
      const index = commit - 5
      process.stdout.write(`issue ${k} compact ${index}\n`)
      first = index + 1
      op = store.compact(index)
    } else {
      let start = last + 1
      if (random(10) === 0 && last > commit) {
        // A new leader overwrites part of the uncommitted tail.
        term++
        start = Math.max(commit + 1, last - random(4))
      }
      const count = 1 + random(16)
      // Commit follows behind, never past what is already in the log before this append.
      commit = Math.max(commit, Math.min(start - 1, commit + random(count + 2)))
      process.stdout.write(`issue ${k} append ${start} ${count} ${term} ${commit}\n`)
      op = store.save({ entries: makeEntries(start, count, term), hardState: { term, vote: 1, commit } })
      last = start + count - 1
    }
    const tracked: Promise<void> = op.then(() => {
      process.stdout.write(`ack ${k}\n`)
      inFlight.delete(tracked)
    })
    inFlight.add(tracked)
  }
}
