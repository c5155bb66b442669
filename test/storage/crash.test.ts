// Crash test: a child process appends with sync and reports every operation once durable; it is
// killed with SIGKILL at a random moment (including during open), and the store reopened here must
// hold every acknowledged entry and hard state, intact, and nothing that was never written.
//
// CRASH_ROUNDS sets the rounds per engine (default 3; `npm run test:crash` runs 100).
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { readAll } from '../../lib/storage/conformance.js'
import { entryData, openEngine, parseLine, type ChildLine, type CrashEngine } from './crash-model.js'
import { tempDir } from './temp-dir.js'

const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 3)
const CHILD = fileURLToPath(new URL('./crash-child.js', import.meta.url))
/** The longest one round may take before it counts as hung. */
const ROUND_TIMEOUT_MS = 60_000

/** What the log should hold: the start, the term of every index up to last, and the hard state. */
interface LogState {
  base: number
  terms: number[] // terms[i] for i in [base, last]
  hardTerm: number
  commit: number
}

const last = (s: LogState): number => s.terms.length - 1

function apply(state: LogState, line: ChildLine): LogState {
  const next: LogState = { ...state, terms: state.terms.slice() }
  if (line.kind === 'append') {
    next.terms.length = line.start
    for (let i = 0; i < line.count; i++) next.terms.push(line.term)
    next.hardTerm = line.term
    next.commit = line.commit
  } else if (line.kind === 'compact') {
    next.base = line.index
  }
  return next
}

interface ChildRun {
  lines: ChildLine[]
  stderr: string
  killedAt: string
  exit: { code: number | null; signal: NodeJS.Signals | null }
}

/** Runs the child until `ackTarget` acks (or, if negative, kills it as soon as it starts). */
function runChild(engine: CrashEngine, dir: string, seed: number, ackTarget: number): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, engine, dir, String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] })
    const lines: ChildLine[] = []
    let stderr = ''
    let acks = 0
    let killedAt = ''
    const kill = (why: string): void => {
      if (killedAt === '') {
        killedAt = why
        child.kill('SIGKILL')
      }
    }
    const timer = setTimeout(() => kill('timeout'), ROUND_TIMEOUT_MS)
    child.once('spawn', () => {
      if (ackTarget < 0) kill('at spawn')
    })
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    createInterface({ input: child.stdout }).on('line', (text) => {
      const line = parseLine(text)
      if (line === undefined) return
      lines.push(line)
      if (line.kind === 'ack' && ++acks >= ackTarget) kill(`after ${acks} acks`)
    })
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ lines, stderr, killedAt, exit: { code, signal } })
    })
  })
}

const ENGINES = (process.env.CRASH_ENGINES ?? 'level,rocksdb').split(',') as CrashEngine[]

for (const engine of ENGINES) {
  t.test(`${engine}: every acknowledged write survives SIGKILL (${ROUNDS} rounds)`, async (t) => {
    const dir = tempDir(`crash-${engine}`)
    t.teardown(() => dir.remove())
    let state: LogState = { base: 0, terms: [0], hardTerm: 0, commit: 0 }
    let seed = 0x9e3779b9 ^ (engine === 'level' ? 1 : 2)
    let checked = 0
    for (let round = 0; round < ROUNDS; round++) {
      seed = (seed * 1664525 + 1013904223) >>> 0
      const ackTarget = seed % 10 === 0 ? -1 : seed % 300
      const run = await runChild(engine, dir.path, seed, ackTarget)
      if (run.exit.signal !== 'SIGKILL' || run.killedAt === 'timeout') {
        t.fail(
          `round ${round}: child ended on its own (${JSON.stringify(run.exit)}, ${run.killedAt}) after ` +
            `${JSON.stringify(run.lines.slice(-3))}: ${run.stderr}`,
        )
        return
      }
      // The states the disk may hold: after the last acknowledged operation or any later issued one.
      const open = run.lines.find((l) => l.kind === 'open')
      if (open !== undefined && open.kind === 'open') {
        const seen = [open.first - 1, open.last, open.hardTerm, open.commit]
        const want = [state.base, last(state), state.hardTerm, state.commit]
        if (seen.join() !== want.join()) t.fail(`round ${round}: the child opened ${seen} but ${want} was recovered`)
      }
      const candidates: LogState[] = [state]
      let lastAck = -1
      for (const line of run.lines) {
        if (line.kind === 'append' || line.kind === 'compact') candidates.push(apply(candidates[candidates.length - 1], line))
        if (line.kind === 'ack') lastAck = line.k
      }
      const acceptable = candidates.slice(lastAck + 1)

      const store = await openEngine(engine, dir.path)
      try {
        const found = acceptable.find(
          (c) =>
            c.base === store.firstIndex() - 1 &&
            last(c) === store.lastIndex() &&
            c.hardTerm === store.hardState.term &&
            c.commit === store.hardState.commit,
        )
        if (found === undefined) {
          t.fail(
            `round ${round} (${run.killedAt}): recovered first ${store.firstIndex()} last ${store.lastIndex()} ` +
              `hard state ${JSON.stringify(store.hardState)} matches no state at or after ack ${lastAck}; ` +
              `recovery ${JSON.stringify(store.recovery)}; candidates (base, last, term, commit): ` +
              JSON.stringify(acceptable.slice(0, 8).map((c) => [c.base, last(c), c.hardTerm, c.commit])) +
              `; last lines ${JSON.stringify(run.lines.slice(-12))}`,
          )
          return
        }
        const entries = await readAll(store, store.firstIndex(), store.lastIndex() + 1)
        let bad = ''
        for (const e of entries) {
          const expect = entryData(e.index, found.terms[e.index])
          if (e.term !== found.terms[e.index] || Buffer.compare(Buffer.from(e.data), Buffer.from(expect)) !== 0) {
            bad = `entry ${e.index} has term ${e.term}, expected ${found.terms[e.index]}, or wrong data`
            break
          }
        }
        if (bad !== '' || entries.length !== last(found) - found.base) {
          t.fail(`round ${round}: ${bad || `${entries.length} entries read`}`)
          return
        }
        for (let i = found.base; i <= last(found); i++) {
          if (store.term(i) !== found.terms[i]) {
            t.fail(`round ${round}: term(${i}) is ${store.term(i)}, expected ${found.terms[i]}`)
            return
          }
        }
        state = found
        checked += entries.length
      } finally {
        await store.close()
      }
    }
    t.ok(last(state) > 0 || ROUNDS === 0, `the log grew to ${last(state)}`)
    t.pass(`${ROUNDS} crashes recovered, ${checked} entries checked in all`)
  })
}
