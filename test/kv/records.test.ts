// The records of the write path are encoded by a short path of our own (`packTuple`): it must
// write exactly what msgpackr writes for them, so that what is on disk does not depend on which
// path encoded it, and everything else must still go to msgpackr.
import t from 'tap'
import { Packr } from 'msgpackr'
import { pack, packTuple, unpack } from '../../lib/kv/records.js'
import { SeededRng } from '../../lib/raft/rng.js'

const msgpackr = new Packr({ useRecords: false, mapsAsObjects: true })

const EDGES = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff]
const LENGTHS = [0, 1, 0xff, 0x100, 0xffff, 0x10000, 70_000]

t.test('packTuple writes the bytes msgpackr writes, at every size boundary and for random tuples', async (t) => {
  const rng = new SeededRng(42)
  const item = (): number | Uint8Array => {
    if (rng.chance(0.5)) return rng.chance(0.3) ? EDGES[rng.int(EDGES.length)] : rng.int(2 ** 32)
    const len = rng.chance(0.2) ? LENGTHS[rng.int(LENGTHS.length)] : rng.int(600)
    const b = new Uint8Array(len)
    for (let i = 0; i < len; i += 97) b[i] = rng.int(256)
    return b
  }
  let mismatches = 0
  for (let round = 0; round < 2000; round++) {
    const tuple = Array.from({ length: rng.int(16) }, item)
    const ours = packTuple(tuple)
    const theirs = new Uint8Array(msgpackr.pack(tuple))
    if (ours === undefined || Buffer.compare(ours, theirs) !== 0) mismatches++
    if (round < 50) t.same(unpack(ours!), tuple.map((x) => (x instanceof Uint8Array ? Buffer.from(x) : x)), `round ${round} decodes to what was encoded`)
  }
  t.equal(mismatches, 0, 'no tuple of the 2,000 encodes differently')
  for (const v of EDGES) t.same(packTuple([v]), new Uint8Array(msgpackr.pack([v])), `integer ${v}`)
  for (const len of LENGTHS) t.same(packTuple([new Uint8Array(len)]), new Uint8Array(msgpackr.pack([new Uint8Array(len)])), `bytes of length ${len}`)
})

t.test('anything else goes to msgpackr', async (t) => {
  for (const tuple of [[-1], [2 ** 32], [1.5], ['text'], [null], [undefined], [{ a: 1 }], [[1]], Array.from({ length: 16 }, () => 1)]) {
    t.equal(packTuple(tuple), undefined, `${JSON.stringify(tuple)} is not a tuple of the short path`)
    t.same(pack(tuple), new Uint8Array(msgpackr.pack(tuple)), 'pack encodes it with msgpackr')
  }
  t.same(pack({ kind: 'x', n: 1 }), new Uint8Array(msgpackr.pack({ kind: 'x', n: 1 })), 'objects too')
})
