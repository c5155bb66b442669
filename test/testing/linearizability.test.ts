import t from 'tap'
import { SeededRng } from '../../lib/raft/rng.js'
import { checkLinearizable, kvModel, type KvInput, type KvOutput, type Operation } from '../../lib/testing/linearizability.js'

type Op = Operation<KvInput, KvOutput>
const op = (key: string, input: KvInput, output: KvOutput | undefined, call: number, ret: number | undefined): Op => ({
  key,
  input,
  output,
  call,
  return: ret,
})

t.test('sequential histories', async (t) => {
  t.ok(checkLinearizable([op('a', { type: 'put', value: '1' }, true, 0, 1), op('a', { type: 'get' }, '1', 2, 3)], kvModel).ok)
  t.notOk(checkLinearizable([op('a', { type: 'put', value: '1' }, true, 0, 1), op('a', { type: 'get' }, null, 2, 3)], kvModel).ok, 'a read after a completed write must see it')
  t.ok(checkLinearizable([op('a', { type: 'get' }, null, 0, 1)], kvModel).ok, 'an absent key reads as null')
  t.notOk(checkLinearizable([op('a', { type: 'delete' }, 1, 0, 1)], kvModel).ok, 'deleting an absent key deletes nothing')
})

t.test('concurrent operations may take effect in either order', async (t) => {
  const h = [op('a', { type: 'put', value: '1' }, true, 0, 10), op('a', { type: 'get' }, '1', 1, 2), op('a', { type: 'get' }, null, 3, 4)]
  // The get that saw '1' forces the put before t=2, so a later get cannot see null.
  t.notOk(checkLinearizable(h, kvModel).ok, 'no going back in time')
  const h2 = [op('a', { type: 'put', value: '1' }, true, 0, 10), op('a', { type: 'get' }, null, 1, 2), op('a', { type: 'get' }, '1', 3, 4)]
  t.ok(checkLinearizable(h2, kvModel).ok)
})

t.test('compare-and-swap', async (t) => {
  const h = [
    op('a', { type: 'put', value: 'x' }, true, 0, 1),
    op('a', { type: 'cas', expected: 'x', value: 'y' }, true, 2, 5),
    op('a', { type: 'cas', expected: 'x', value: 'z' }, true, 3, 6),
  ]
  t.notOk(checkLinearizable(h, kvModel).ok, 'two swaps from the same value cannot both succeed')
  const h2 = [h[0], h[1], op('a', { type: 'cas', expected: 'x', value: 'z' }, false, 3, 6)]
  t.ok(checkLinearizable(h2, kvModel).ok)
})

t.test('unknown outcomes may or may not have happened', async (t) => {
  const w = op('a', { type: 'put', value: '1' }, undefined, 0, undefined)
  t.ok(checkLinearizable([w, op('a', { type: 'get' }, '1', 5, 6)], kvModel).ok, 'it happened')
  t.ok(checkLinearizable([w, op('a', { type: 'get' }, null, 5, 6)], kvModel).ok, 'it did not (yet)')
  t.notOk(
    checkLinearizable([w, op('a', { type: 'get' }, '1', 5, 6), op('a', { type: 'get' }, null, 7, 8)], kvModel).ok,
    'but once seen, it stays',
  )
})

t.test('keys are independent', async (t) => {
  const h = [op('a', { type: 'put', value: '1' }, true, 0, 1), op('b', { type: 'get' }, '1', 2, 3)]
  const r = checkLinearizable(h, kvModel)
  t.notOk(r.ok)
  t.equal(r.key, 'b', 'names the key whose history fails')
})

/**
 * A history that is linearizable by construction: each operation takes effect at a random point
 * inside its interval, against a real map; some outcomes are then hidden (unknown).
 */
function randomHistory(rng: SeededRng, n: number, keys: number): Op[] {
  const ops: Array<{ key: string; input: KvInput; call: number; ret: number; at: number; unknown: boolean; happens: boolean }> = []
  for (let i = 0; i < n; i++) {
    const call = rng.int(1000)
    const ret = call + 1 + rng.int(60)
    const kind = rng.int(4)
    const input: KvInput =
      kind === 0 ? { type: 'get' } : kind === 1 ? { type: 'put', value: `v${i}` } : kind === 2 ? { type: 'delete' } : { type: 'cas', expected: rng.chance(0.5) ? undefined : `v${rng.int(i + 1)}`, value: `c${i}` }
    const unknown = rng.chance(0.05)
    ops.push({ key: `k${rng.int(keys)}`, input, call, ret, at: call + rng.float() * (ret - call), unknown, happens: !unknown || rng.chance(0.5) })
  }
  const state = new Map<string, string>()
  const outputs = new Map<number, KvOutput>()
  const order = ops.map((_, i) => i).sort((a, b) => ops[a].at - ops[b].at)
  for (const i of order) {
    const o = ops[i]
    if (!o.happens) continue
    const cur = state.get(o.key)
    switch (o.input.type) {
      case 'get':
        outputs.set(i, cur ?? null)
        break
      case 'put':
        state.set(o.key, o.input.value)
        outputs.set(i, true)
        break
      case 'delete':
        state.delete(o.key)
        outputs.set(i, cur === undefined ? 0 : 1)
        break
      case 'cas': {
        const ok = cur === o.input.expected
        if (ok) state.set(o.key, o.input.value)
        outputs.set(i, ok)
        break
      }
    }
  }
  return ops.map((o, i) => op(o.key, o.input, o.unknown ? undefined : outputs.get(i), o.call, o.unknown ? undefined : o.ret))
}

t.test('random linearizable histories pass; corrupted ones fail', async (t) => {
  const rng = new SeededRng(2024)
  let caught = 0
  let corrupted = 0
  for (let round = 0; round < 200; round++) {
    const h = randomHistory(rng, 60, 3)
    const r = checkLinearizable(h, kvModel)
    t.ok(r.ok && !r.timedOut, `round ${round} is linearizable`)
    // A read that returns a value nobody ever wrote can never be explained.
    const reads = h.map((o, i) => [o, i] as const).filter(([o]) => o.input.type === 'get' && o.output !== undefined)
    if (reads.length === 0) continue
    const [victim, i] = reads[rng.int(reads.length)]
    const bad = h.slice()
    bad[i] = { ...victim, output: 'never-written' }
    corrupted++
    if (!checkLinearizable(bad, kvModel).ok) caught++
  }
  t.equal(caught, corrupted, `every corrupted history is refused (${caught}/${corrupted})`)
})

t.test('a large history is checked in bounded steps', async (t) => {
  const h = randomHistory(new SeededRng(7), 2000, 20)
  const r = checkLinearizable(h, kvModel)
  t.ok(r.ok)
  t.notOk(r.timedOut, 'no timeout')
})

t.test('an operation that returns at the instant it is called', async (t) => {
  const h = [op('a', { type: 'put', value: '1' }, true, 5, 5), op('a', { type: 'get' }, '1', 6, 7)]
  t.ok(checkLinearizable(h, kvModel).ok)
  const meet = [op('a', { type: 'put', value: '1' }, true, 0, 5), op('a', { type: 'get' }, null, 5, 6)]
  t.ok(checkLinearizable(meet, kvModel).ok, 'operations that meet at one instant are concurrent')
})
