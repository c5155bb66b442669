// The hand-written chunk encoder must produce exactly what msgpackr produces for the same array,
// and every record must refuse a flipped bit or a wrong key.
import t from 'tap'
import { Packr } from 'msgpackr'
import { EntryType, type Entry } from '../../lib/raft/types.js'
import { indexKey, parseIndexKey } from '../../lib/storage/index-key.js'
import { decodeChunk, sealChunk } from '../../lib/storage/record-codec.js'
import { openRecord } from '../../lib/storage/record.js'

const packr = new Packr({ useRecords: false, moreTypes: false })

function chunk(first: number, terms: number[], sizes: number[]): Entry[] {
  return terms.map((term, i) => ({
    index: first + i,
    term,
    type: i % 2 === 0 ? EntryType.Normal : EntryType.ConfChange,
    data: Buffer.alloc(sizes[i % sizes.length], i),
  }))
}

const cases: Array<[string, Entry[]]> = [
  ['one small entry', chunk(1, [1], [0])],
  ['fixint boundaries', chunk(127, [127, 128, 255, 256], [1, 255, 256])],
  ['16-bit and 32-bit values', chunk(65_535, [65_535, 65_536, 2 ** 32 - 1], [65_535, 65_536])],
  ['indexes past 32 bits', chunk(2 ** 40 + 3, [2 ** 33, 2 ** 33], [3])],
  ['a long chunk (array16 header)', chunk(10, Array.from({ length: 600 }, () => 9), [256])],
  ['a very long chunk (array32 header)', chunk(10, Array.from({ length: 22_000 }, () => 9), [1])],
]

for (const [name, entries] of cases) {
  t.test(name, async (t) => {
    const key = indexKey(entries[0].index)
    const sealed = sealChunk(key, entries, 0, entries.length)
    const payload = openRecord(key, sealed)
    t.type(payload, Uint8Array, 'the checksum holds')
    const flat: unknown[] = [entries[0].index]
    for (const e of entries) flat.push(e.term, e.type, e.data)
    t.same(Buffer.from(payload as Uint8Array), packr.pack(flat), 'byte for byte what msgpackr writes')
    const decoded = decodeChunk(payload as Uint8Array)
    t.same(
      decoded.map((e) => [e.index, e.term, e.type, Buffer.from(e.data).toString('hex')]),
      entries.map((e) => [e.index, e.term, e.type, Buffer.from(e.data).toString('hex')]),
      'decodes to the same entries',
    )
  })
}

t.test('a flipped bit or another key fails the check', async (t) => {
  const entries = chunk(5, [1, 1, 2], [10])
  const sealed = sealChunk(indexKey(5), entries, 0, 3)
  for (let bit = 0; bit < sealed.length * 8; bit += 13) {
    const damaged = Buffer.from(sealed)
    damaged[bit >> 3] ^= 1 << (bit & 7)
    if (typeof openRecord(indexKey(5), damaged) !== 'string') t.fail(`bit ${bit} flipped went unnoticed`)
  }
  t.equal(openRecord(indexKey(6), sealed), 'checksum', 'the same bytes under another key')
  t.equal(openRecord(indexKey(5), sealed.subarray(0, 3)), 'short', 'a value shorter than the checksum')
  t.equal(parseIndexKey(indexKey(2 ** 53 - 1)), 2 ** 53 - 1, 'the largest index round-trips')
  t.equal(parseIndexKey(new Uint8Array(7)), -1, 'a key of the wrong width is rejected')
})
