// Randomized runs against the naive model in model.ts: every result, every read at every
// readable revision and the whole event history must agree. The same entries applied in
// batches of random sizes must leave byte-identical databases (batching is not replicated,
// so it must not matter).
import t from 'tap'
import { MemoryLevel } from 'memory-level'
import type { Command, CompareResult, TxnOp } from '../../lib/kv/commands.js'
import { NO_END } from '../../lib/kv/key-range.js'
import type { CommandResult, RevisionEvents } from '../../lib/kv/results.js'
import { Harness, eventLines, kv, rawRecords, text, utf8 } from './helpers.js'
import { MvccStore } from '../../lib/kv/mvcc-store.js'
import type { LevelDatabase } from '../../lib/storage/level-database.js'
import { Model } from './model.js'

/** mulberry32: a small seeded generator, so that a failure replays from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const KEYS = ['a', 'a/1', 'a/2', 'b', 'b/1', 'c', 'd']

function randomCommands(seed: number, count: number, revisionHint: () => number): Command[] {
  const random = rng(seed)
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]
  const key = (): Uint8Array => utf8(pick(KEYS))
  const end = (): Uint8Array | undefined => pick([undefined, undefined, utf8(pick(KEYS)), NO_END])
  const value = (): Uint8Array => utf8(`v${Math.floor(random() * 4)}`)
  const lease = (): number | undefined => (random() < 0.2 ? 1 + Math.floor(random() * 3) : undefined)
  const cmds: Command[] = []
  for (let i = 0; i < count; i++) {
    const roll = random()
    if (roll < 0.4) cmds.push({ type: 'put', key: key(), value: value(), lease: lease() })
    else if (roll < 0.55) cmds.push({ type: 'deleteRange', key: key(), rangeEnd: end() })
    else if (roll < 0.8) {
      const k1 = pick(KEYS)
      const k2 = pick(KEYS.filter((k) => k !== k1))
      const op = (): TxnOp[] => [
        { type: 'put', key: utf8(k1), value: value(), lease: lease() },
        { type: 'range', key: utf8('a'), rangeEnd: NO_END },
        random() < 0.5 ? { type: 'deleteRange', key: utf8(k2) } : { type: 'put', key: utf8(k2), value: value() },
      ]
      const target = pick(['value', 'version', 'createRevision', 'modRevision', 'lease'] as const)
      const result = pick<CompareResult>(['=', '!=', '<', '>'])
      const compare =
        target === 'value'
          ? { key: key(), rangeEnd: end(), target, result, value: value() }
          : { key: key(), rangeEnd: end(), target, result, value: Math.floor(random() * 6) }
      cmds.push({ type: 'txn', compare: [compare], success: op(), failure: op() })
    } else if (roll < 0.88) cmds.push({ type: 'leaseGrant', id: 1 + Math.floor(random() * 3), ttlSeconds: 10 })
    else if (roll < 0.95) cmds.push({ type: 'leaseRevoke', id: 1 + Math.floor(random() * 3) })
    else cmds.push({ type: 'compact', revision: Math.max(1, revisionHint() - Math.floor(random() * 5)) })
  }
  return cmds
}

function summarize(result: CommandResult): string {
  switch (result.type) {
    case 'put':
      return `put ${result.revision}`
    case 'deleteRange':
      return `deleteRange ${result.revision} ${result.deleted}`
    case 'txn':
      return `txn ${result.revision} ${result.succeeded} ${result.responses
        .map((r) => (r.type === 'put' ? 'put' : r.type === 'deleteRange' ? `del${r.deleted}` : `range[${r.kvs.map((x) => `${text(x.key)}=${text(x.value)}`).join(' ')}]`))
        .join(',')}`
    case 'compact':
      return `compact ${result.revision}`
    case 'leaseGrant':
    case 'leaseRevoke':
      return result.type === 'leaseRevoke' ? `leaseRevoke ${result.revision} ${result.deleted}` : `leaseGrant ${result.revision}`
    case 'error':
      return `error ${result.error.code}`
    default:
      return result.type
  }
}

/** The records of the live generation, with the generation's own prefix taken off. */
async function stateRecords(db: LevelDatabase): Promise<Array<[string, string]>> {
  const generation = /^!kv!!g\d+!/
  return (await rawRecords(db))
    .map(([k, v]): [string, string] => [Buffer.from(k, 'hex').toString('latin1'), v])
    .filter(([k]) => generation.test(k))
    .map(([k, v]) => [k.replace(generation, ''), v])
}

async function collect(iterable: AsyncIterable<RevisionEvents>): Promise<RevisionEvents[]> {
  const out: RevisionEvents[] = []
  for await (const group of iterable) out.push(group)
  return out
}

for (const seed of [1, 2, 3, 4, 5, 6]) {
  t.test(`seed ${seed}: the store agrees with the model, however the entries are batched`, async (t) => {
    const model = new Model()
    const cmds = randomCommands(seed, 300, () => model.revision)
    const single = await Harness.memory()
    const batchedDb = new MemoryLevel()
    const batched = await Harness.on(batchedDb)
    const expected: string[] = []
    const actual: string[] = []
    // One entry per batch, checked against the model as it goes.
    for (const cmd of cmds) {
      expected.push(model.apply(cmd))
      actual.push(summarize(await single.run(cmd)))
    }
    t.same(actual, expected, 'results')
    // The same entries (same client and sequence numbers) in batches of 1 to 40.
    const random = rng(seed * 7919)
    const entries = cmds.map((cmd) => batched.entry(cmd))
    const batchedResults: CommandResult[] = []
    for (let i = 0; i < entries.length; ) {
      const n = 1 + Math.floor(random() * 40)
      const { results } = await batched.store.apply(entries.slice(i, i + n))
      batchedResults.push(...results.map((r) => r.result))
      i += n
    }
    t.same(batchedResults.map(summarize), expected, 'batched results')
    t.same(await rawRecords(batchedDb), await rawRecords(single.db), 'byte-identical databases')

    // Half the entries, a snapshot restored into a fresh store, a restart, the other half.
    const first = await Harness.memory()
    const half = Math.floor(entries.length / 2)
    await first.store.apply(entries.slice(0, half))
    const second = await Harness.memory()
    await second.store.restore(first.store.snapshotChunks({ chunkBytes: 512 }))
    const resumed = await MvccStore.open(second.db)
    await resumed.apply(entries)
    const reference = await stateRecords(single.db)
    t.ok(reference.length > 300, `${reference.length} records compared`)
    t.same(await stateRecords(second.db), reference, 'snapshot, restore and restart change nothing')

    t.equal(single.store.revision, model.revision)
    t.equal(single.store.compactRevision, model.compactRevision)
    const wrong: number[] = []
    for (let rev = Math.max(1, model.compactRevision); rev <= model.revision; rev++) {
      const dump = (await single.store.range({ key: NO_END, rangeEnd: NO_END, revision: rev })).kvs.map(kv)
      const want = model.rangeAt(rev, '\0', '\0').map(([key, m]) => ({ key, value: m.value, create: m.create, mod: m.mod, version: m.version, lease: m.lease }))
      if (JSON.stringify(dump) !== JSON.stringify(want)) wrong.push(rev)
    }
    t.same(wrong, [], 'every readable revision matches')
    const from = Math.max(1, model.compactRevision)
    t.same(eventLines(await collect(single.store.eventsSince(from))), model.eventLines(from), 'event history')
    const leases = (await single.store.leases()).map((l) => `${l.id}:${l.keys.map(text).join(',')}`)
    const modelLeases = [...model.leases.keys()]
      .sort()
      .map((id) => `${id}:${[...model.current.entries()].filter(([, m]) => m.lease === id).map(([k]) => k).sort().join(',')}`)
    t.same(leases, modelLeases, 'leases and their keys')
  })
}
