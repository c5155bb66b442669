// The wire encoding of message batches: round trips, and every malformed shape refused with
// MalformedError (and nothing else), including random and mutated bytes.
import { Packr } from 'msgpackr'
import t, { type Test } from 'tap'
import { MalformedError } from '../../lib/errors.js'
import { SeededRng } from '../../lib/raft/rng.js'
import { EntryType, makeMessage, MessageType, type Message } from '../../lib/raft/types.js'
import { checkAddressing, decodeBatch, encodeBatch, WIRE_VERSION, withoutSnapshotData } from '../../transports/wire.js'

const packr = new Packr({ useRecords: false, moreTypes: false })
const NETWORK_TYPES = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23] as MessageType[]

function bytesOf(rng: SeededRng, max: number): Uint8Array {
  const b = new Uint8Array(rng.int(max + 1))
  for (let i = 0; i < b.length; i++) b[i] = rng.int(256)
  return b
}

function randomMessage(rng: SeededRng): Message {
  const type = NETWORK_TYPES[rng.int(NETWORK_TYPES.length)]
  const big = () => (rng.chance(0.1) ? Number.MAX_SAFE_INTEGER - rng.int(1000) : rng.int(1_000_000))
  const entries = []
  for (let i = rng.int(4); i > 0; i--) entries.push({ term: big(), index: big(), type: rng.chance(0.5) ? EntryType.Normal : EntryType.ConfChange, data: bytesOf(rng, 64) })
  const m: Record<string, unknown> = {
    ...makeMessage({ type, from: 1 + rng.int(9), to: 1 + rng.int(9), term: big(), logTerm: big(), index: big(), commit: big(), reject: rng.chance(0.5), rejectHint: big(), entries }),
  }
  if (type === MessageType.Snap || rng.chance(0.1)) {
    m.snapshot = {
      metadata: { index: big(), term: big(), confState: { voters: [1, 2, 3], learners: rng.chance(0.5) ? [4] : [], votersOutgoing: rng.chance(0.3) ? [1, 2] : [], learnersNext: [], autoLeave: rng.chance(0.5) } },
      data: bytesOf(rng, 200),
    }
  }
  if (rng.chance(0.5)) m.context = bytesOf(rng, 16)
  return m as unknown as Message
}

function refuses(t: Test, bytes: Uint8Array, what: string): void {
  try {
    decodeBatch(bytes)
    t.fail(`${what}: decoded`)
  } catch (err) {
    t.ok(err instanceof MalformedError && (err as MalformedError).code === 'MALFORMED', `${what}: MalformedError`)
  }
}

// The encoding of one message as a tuple, for hand-made malformed variants.
function tuple(m: Message): unknown[] {
  return (packr.unpack(encodeBatch([m])) as [number, unknown[][]])[1][0]
}

t.test('round trip of every message type, field for field', async (t) => {
  const rng = new SeededRng(42)
  for (let round = 0; round < 100; round++) {
    const batch: Message[] = []
    for (let i = rng.int(5); i >= 0; i--) batch.push(randomMessage(rng))
    t.strictSame(decodeBatch(encodeBatch(batch)), batch, `round ${round}: ${batch.map((m) => MessageType[m.type]).join(', ')}`)
  }
  const m = decodeBatch(encodeBatch([randomMessage(new SeededRng(7))]))[0]
  t.equal(m.entries[0]?.data.constructor ?? Uint8Array, Uint8Array, 'byte fields decode as plain Uint8Arrays')
  t.strictSame(decodeBatch(encodeBatch([])), [], 'an empty batch')
})

t.test('withoutSnapshotData keeps the metadata only', async (t) => {
  const snap = makeMessage({ type: MessageType.Snap, from: 1, to: 2, snapshot: { metadata: { index: 3, term: 2, confState: { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } }, data: new Uint8Array(10) } })
  const lean = withoutSnapshotData(snap)
  t.equal(lean.snapshot!.data.byteLength, 0)
  t.strictSame(lean.snapshot!.metadata, snap.snapshot!.metadata)
  t.equal(snap.snapshot!.data.byteLength, 10, 'the original is untouched')
})

t.test('malformed batches are refused with MalformedError', async (t) => {
  const good = makeMessage({ type: MessageType.App, from: 1, to: 2, term: 3, entries: [{ term: 3, index: 4, type: EntryType.Normal, data: new Uint8Array([1]) }], context: new Uint8Array([5]) })
  const base = tuple(good)
  const variant = (i: number, v: unknown): Uint8Array => {
    const m = [...base]
    m[i] = v
    return packr.pack([WIRE_VERSION, [m]])
  }
  refuses(t, new Uint8Array([]), 'empty input')
  refuses(t, new Uint8Array([0xc1]), 'a reserved msgpack byte')
  refuses(t, encodeBatch([good]).subarray(0, 10), 'truncated')
  refuses(t, Buffer.concat([encodeBatch([good]), Buffer.from([0])]), 'trailing bytes')
  refuses(t, packr.pack({ v: 1 }), 'a map instead of the batch')
  refuses(t, packr.pack([2, [base]]), 'another wire version')
  refuses(t, packr.pack([WIRE_VERSION, [base.slice(0, 11)]]), 'a message of 11 fields')
  refuses(t, packr.pack([WIRE_VERSION, 'x']), 'messages that are not a list')
  for (const type of [MessageType.Hup, MessageType.Propose, MessageType.Beat, 9, 24, 200, -1]) refuses(t, variant(0, type), `type ${type}`)
  refuses(t, variant(1, 0), 'to node 0')
  refuses(t, variant(2, 0), 'from node 0')
  refuses(t, variant(3, -1), 'a negative term')
  refuses(t, variant(3, 1.5), 'a fractional term')
  refuses(t, variant(3, 2 ** 53), 'a term past the safe integers')
  refuses(t, variant(3, '3'), 'a string term')
  refuses(t, variant(5, null), 'a nil index')
  refuses(t, variant(7, 1), 'reject that is not a boolean')
  refuses(t, variant(9, 'entries'), 'entries that are not a list')
  refuses(t, variant(9, [[3, 4, 2, new Uint8Array(1)]]), 'an unknown entry type')
  refuses(t, variant(9, [[3, 4, 0, 'data']]), 'entry data that is not binary')
  refuses(t, variant(9, [[3, 4, 0]]), 'an entry of 3 fields')
  refuses(t, variant(11, 'ctx'), 'a context that is not binary')
  refuses(t, variant(11, [1, 2]), 'a context that is an array')
  const snapType = [...base]
  snapType[0] = MessageType.Snap
  refuses(t, packr.pack([WIRE_VERSION, [snapType]]), 'a snapshot message without a snapshot')
  const cs = [[1, 2], [], [], [], false]
  refuses(t, variant(10, [1, 1, cs, 'data']), 'snapshot data that is not binary')
  refuses(t, variant(10, [1, 1, [[0], [], [], [], false], new Uint8Array(0)]), 'a voter 0')
  refuses(t, variant(10, [1, 1, [[1], [], [], [], 1], new Uint8Array(0)]), 'autoLeave that is not a boolean')
  refuses(t, variant(10, [1, 1, [[1], [], []], new Uint8Array(0)]), 'a conf state of 3 fields')
  refuses(t, variant(10, [-1, 1, cs, new Uint8Array(0)]), 'a negative snapshot index')
  refuses(t, packr.pack([WIRE_VERSION, [[...base.slice(0, 3), BigInt(2) ** BigInt(60), ...base.slice(4)]]]), 'a 64-bit term')
  let deep: unknown = 1
  for (let i = 0; i < 100_000; i++) deep = [deep]
  let nested: Uint8Array | undefined
  try {
    nested = packr.pack(deep)
  } catch {
    // msgpackr could not even write it; hand-make it: 100k fixarray(1) headers, then 1.
    nested = Buffer.concat([Buffer.alloc(100_000, 0x91), Buffer.from([1])])
  }
  refuses(t, nested, 'deeply nested arrays')
  refuses(t, 'not bytes' as unknown as Uint8Array, 'a string instead of bytes')
})

t.test('random and mutated bytes: a batch or MalformedError, never anything else', async (t) => {
  const rng = new SeededRng(2024)
  const valid: Uint8Array[] = []
  for (let i = 0; i < 50; i++) valid.push(encodeBatch([randomMessage(rng), randomMessage(rng)]))
  let decoded = 0
  let refused = 0
  let other = 0
  const tryOne = (bytes: Uint8Array): void => {
    try {
      const batch = decodeBatch(bytes)
      if (!Array.isArray(batch)) other++
      else decoded++
    } catch (err) {
      if (err instanceof MalformedError) refused++
      else other++
    }
  }
  for (let i = 0; i < 10_000; i++) tryOne(bytesOf(rng, 300))
  for (let i = 0; i < 20_000; i++) {
    const b = new Uint8Array(valid[rng.int(valid.length)])
    const mutation = rng.int(4)
    if (mutation === 0) for (let k = 1 + rng.int(3); k > 0; k--) b[rng.int(b.length)] = rng.int(256)
    if (mutation === 1) b[rng.int(b.length)] ^= 1 << rng.int(8)
    if (mutation === 2) {
      tryOne(b.subarray(0, rng.int(b.length)))
      continue
    }
    if (mutation === 3) {
      const at = rng.int(b.length)
      tryOne(Buffer.concat([b.subarray(0, at), bytesOf(rng, 8), b.subarray(at)]))
      continue
    }
    tryOne(b)
  }
  t.equal(other, 0, 'no other error and no other result')
  t.ok(refused > 20_000, `most are refused (${refused})`)
  t.ok(decoded > 0, `some mutations still decode to valid batches (${decoded}): the checks do not refuse everything`)
})

t.test('checkAddressing', async (t) => {
  const ms = [makeMessage({ type: MessageType.Heartbeat, from: 1, to: 2 }), makeMessage({ type: MessageType.Heartbeat, from: 1, to: 2 })]
  t.doesNotThrow(() => checkAddressing(ms, 1, 2))
  t.throws(() => checkAddressing(ms, 3, 2), { code: 'MALFORMED' }, 'a message from another node than the link')
  t.throws(() => checkAddressing(ms, 1, 3), { code: 'MALFORMED' }, 'a message for another node')
})
