// Records and command envelopes are encoded by a short path of our own (`packSimple`): it must
// write exactly what msgpackr writes for them, so that what is on disk and in the log does not
// depend on which path encoded it, and everything else must still go to msgpackr.
import t from 'tap'
import { Packr } from 'msgpackr'
import { decodeEnvelope, encodeEnvelope, validateEnvelope } from '../../lib/kv/codec.js'
import type { Command, Envelope } from '../../lib/kv/commands.js'
import { packSimple } from '../../lib/kv/msgpack-lite.js'
import { pack, unpack } from '../../lib/kv/records.js'
import { SeededRng } from '../../lib/raft/rng.js'

const packTuple = (items: unknown[]): Uint8Array | undefined => packSimple(items)

const msgpackr = new Packr({ useRecords: false, mapsAsObjects: true })

const EDGES = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff, 2 ** 32, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER]
const LENGTHS = [0, 1, 0xff, 0x100, 0xffff, 0x10000, 70_000]

t.test('tuples: the bytes msgpackr writes, at every size boundary and for random tuples', async (t) => {
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
  const deep = { a: { b: { c: { d: { e: { f: { g: { h: { i: 1 } } } } } } } } }
  for (const value of [[-1], [2 ** 53], [1.5], ['é'], ['x'.repeat(0x10000)], [new Map()], [new Date(0)], [1n], deep, { 'é': 1 }, new Uint16Array(2)]) {
    t.equal(packSimple(value), undefined, 'not a simple value')
    t.same(pack(value), new Uint8Array(msgpackr.pack(value)), 'pack encodes it with msgpackr')
  }
})

t.test('objects, arrays and strings: the bytes msgpackr writes', async (t) => {
  const values: unknown[] = [{}, [], { a: 1 }, { a: undefined, b: null, c: true, d: false }, Array.from({ length: 16 }, (_, i) => i), Array.from({ length: 300 }, () => 'x'), { s: 'x'.repeat(31) }, { s: 'x'.repeat(32) }, { s: 'x'.repeat(255) }, { s: 'x'.repeat(256) }, { s: 'x'.repeat(0xffff) }, { bytes: new Uint8Array(300), nested: [{ k: [1, [2, [3]]] }] }, Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i * 1000]))]
  for (const value of values) t.same(packSimple(value), new Uint8Array(msgpackr.pack(value)), JSON.stringify(value)?.slice(0, 60) ?? String(value))
})

t.test('command envelopes: the bytes msgpackr writes, and they decode to what was encoded', async (t) => {
  const rng = new SeededRng(7)
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => rng.int(256))
  const key = (): Uint8Array => bytes(1 + rng.int(40))
  const maybe = <T>(v: T): T | undefined => (rng.chance(0.5) ? v : undefined)
  const command = (): Command => {
    switch (rng.int(5)) {
      case 0:
        return { type: 'put', key: key(), value: bytes(rng.int(2000)), lease: maybe(1 + rng.int(2 ** 31)), prevKv: maybe(rng.chance(0.5)) }
      case 1:
        return { type: 'deleteRange', key: key(), rangeEnd: maybe(key()), prevKv: maybe(true) }
      case 2:
        return {
          type: 'txn',
          compare: [{ key: key(), target: 'value', result: '=', value: bytes(rng.int(300)) }, { key: key(), target: 'modRevision', result: '<', value: rng.int(2 ** 32) }],
          success: [{ type: 'put', key: key(), value: bytes(10) }, { type: 'range', key: key(), rangeEnd: maybe(key()) }],
          failure: [{ type: 'deleteRange', key: key() }],
        }
      case 3:
        return { type: 'leaseGrant', id: 1 + rng.int(2 ** 31), ttlSeconds: 1 + rng.int(1000) }
      default:
        return { type: 'compact', revision: 1 + rng.int(2 ** 31) }
    }
  }
  let mismatches = 0
  let short = 0
  for (let i = 0; i < 1000; i++) {
    const envelope: Envelope = validateEnvelope({ clientId: `n${rng.int(9)}-${'ab12'.repeat(3)}`, seq: 1 + rng.int(2 ** 31), cmd: command() })
    const ours = packSimple(envelope)
    if (ours !== undefined) short++
    if (ours !== undefined && Buffer.compare(ours, new Uint8Array(msgpackr.pack(envelope))) !== 0) mismatches++
    const encoded = encodeEnvelope(envelope)
    if (i < 100) t.same(decodeEnvelope(encoded), decodeEnvelope(new Uint8Array(msgpackr.pack(envelope))), `envelope ${i} decodes as msgpackr's does`)
  }
  t.equal(mismatches, 0, 'no envelope encodes differently')
  t.equal(short, 1000, 'all of them took the short path')
})
