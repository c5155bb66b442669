// Unit tests of the flow-control window (lib/raft/tracker/inflights.ts): the count and byte limits,
// freeing by acknowledgement, and a property test against a plain array model.
import t from 'tap'
import { SeededRng } from '../../lib/raft/rng.js'
import { Inflights } from '../../lib/raft/tracker/inflights.js'

/** The indexes a window holds, oldest first, read through clone() and freeing. */
function contents(inf: Inflights): number[] {
  const c = inf.clone()
  const out: number[] = []
  // Free the oldest one at a time, recording which index went: probing with freeLE(i) for growing i.
  let probe = 0
  while (c.count > 0) {
    const before = c.count
    c.freeLE(probe)
    for (let k = 0; k < before - c.count; k++) out.push(probe)
    probe++
    if (probe > 1e6) throw new Error('runaway')
  }
  return out
}

t.test('add fills the window up to its count limit', async (t) => {
  const inf = new Inflights(10, 0)
  for (let i = 0; i < 5; i++) inf.add(i, 100)
  t.equal(inf.count, 5)
  t.equal(inf.bytes, 500)
  t.notOk(inf.full())
  for (let i = 5; i < 10; i++) inf.add(i, 100)
  t.equal(inf.count, 10)
  t.ok(inf.full(), 'full at the count limit')
  t.throws(() => inf.add(10, 1), /full/, 'adding to a full window is a bug')
})

t.test('the byte limit makes the window full before the count limit', async (t) => {
  const inf = new Inflights(10, 1000)
  inf.add(1, 400)
  inf.add(2, 400)
  t.notOk(inf.full(), '800 of 1000 bytes')
  inf.add(3, 200)
  t.ok(inf.full(), 'exactly at the byte limit is full')
  t.equal(inf.count, 3)
  inf.freeLE(1)
  t.equal(inf.bytes, 600)
  t.notOk(inf.full(), 'freeing bytes reopens the window')
  // One message over the budget is let through when the window has room (it was not full).
  inf.add(4, 5000)
  t.ok(inf.full())
  t.equal(inf.bytes, 5600)
})

t.test('a zero byte limit means no byte limit', async (t) => {
  const inf = new Inflights(3, 0)
  inf.add(1, 1e9)
  inf.add(2, 1e9)
  t.notOk(inf.full())
  inf.add(3, 0)
  t.ok(inf.full())
})

t.test('freeLE frees every append up to an index, and no more', async (t) => {
  const inf = new Inflights(10, 0)
  for (let i = 0; i < 10; i++) inf.add(i, 1)
  inf.freeLE(4)
  t.equal(inf.count, 5)
  t.equal(inf.bytes, 5)
  t.same(contents(inf), [5, 6, 7, 8, 9])
  inf.freeLE(3)
  t.equal(inf.count, 5, 'a stale acknowledgement frees nothing')
  inf.freeLE(8)
  t.same(contents(inf), [9])
  // Wrap around the ring.
  for (let i = 10; i < 15; i++) inf.add(i, 1)
  t.same(contents(inf), [9, 10, 11, 12, 13, 14])
  inf.freeLE(12)
  t.same(contents(inf), [13, 14])
  inf.freeLE(14)
  t.equal(inf.count, 0)
  t.equal(inf.bytes, 0)
  inf.freeLE(100)
  t.equal(inf.count, 0, 'freeing an empty window is harmless')
})

t.test('freeFirstOne frees exactly the oldest append', async (t) => {
  const inf = new Inflights(4, 0)
  inf.add(7, 10)
  inf.add(8, 20)
  inf.add(9, 30)
  inf.freeFirstOne()
  t.equal(inf.count, 2)
  t.equal(inf.bytes, 50)
  t.same(contents(inf), [8, 9])
  inf.freeFirstOne()
  inf.freeFirstOne()
  inf.freeFirstOne()
  t.equal(inf.count, 0)
})

t.test('reset empties the window; clone is independent', async (t) => {
  const inf = new Inflights(4, 100)
  inf.add(1, 60)
  inf.add(2, 60)
  const c = inf.clone()
  inf.reset()
  t.equal(inf.count, 0)
  t.equal(inf.bytes, 0)
  t.notOk(inf.full())
  t.equal(c.count, 2, 'the clone kept its appends')
  t.equal(c.bytes, 120)
  t.ok(c.full(), 'and its byte limit')
})

t.test('random operations agree with an array model', async (t) => {
  const rng = new SeededRng(7)
  let failures = 0
  for (let round = 0; round < 200; round++) {
    const cap = 1 + rng.int(8)
    const maxBytes = rng.chance(0.5) ? 0 : 1 + rng.int(300)
    const inf = new Inflights(cap, maxBytes)
    let model: Array<{ index: number; bytes: number }> = []
    let next = 1
    for (let op = 0; op < 100; op++) {
      const modelBytes = model.reduce((s, x) => s + x.bytes, 0)
      const modelFull = model.length === cap || (maxBytes > 0 && modelBytes >= maxBytes)
      if (inf.full() !== modelFull || inf.count !== model.length || inf.bytes !== modelBytes) {
        failures++
        break
      }
      const r = rng.int(4)
      if (r <= 1 && !modelFull) {
        next += 1 + rng.int(3)
        const b = rng.int(100)
        inf.add(next, b)
        model.push({ index: next, bytes: b })
      } else if (r === 2) {
        const to = next - rng.int(10)
        inf.freeLE(to)
        // Frees the prefix of appends whose index is <= to.
        let k = 0
        while (k < model.length && model[k].index <= to) k++
        model = model.slice(k)
      } else {
        inf.freeFirstOne()
        model = model.slice(1)
      }
    }
    if (failures === 0 && model.length > 0 && JSON.stringify(contents(inf)) !== JSON.stringify(model.map((x) => x.index))) failures++
  }
  t.equal(failures, 0, '200 random histories agree')
})
