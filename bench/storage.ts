// Storage benchmark (not a test): sync write throughput and latency of each engine for batches of
// 1, 16 and 256 entries of 256 bytes, beside the raw write+fsync rate of the same disk, which bounds
// any durable write. Also the raw engine cost of the two log layouts considered (a key per entry
// versus one record per append), which is why the store keeps the entries of an append together.
//
//   npm run bench -- storage [--seconds N] [--dir PATH]
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { EntryType, type Entry } from '../lib/raft/types.js'
import type { LevelLogStore } from '../lib/storage/level-log-store.js'
import { levelStorage } from '../lib/storage/level-engine.js'
import { memoryStorage } from '../lib/storage/memory-engine.js'
import { rocksdbStorage } from '../lib/storage/rocksdb-engine.js'
import { loadRocksBinding } from '../lib/storage/rocksdb-binding.js'

const ENTRY_BYTES = 256
const BATCHES = [1, 16, 256]

interface Measure {
  opsPerSecond: number
  p50: number
  p99: number
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]
}

function summarize(latencies: number[], elapsedMs: number): Measure {
  const sorted = latencies.slice().sort((a, b) => a - b)
  return { opsPerSecond: (latencies.length * 1000) / elapsedMs, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) }
}

/** Raw disk: append `bytes` and fsync, in a loop, for `seconds`. */
function rawFsync(dir: string, seconds: number, bytes: number): Measure {
  const path = join(dir, `fsync-probe-${bytes}`)
  const fd = openSync(path, 'w')
  const block = Buffer.alloc(bytes, 7)
  const latencies: number[] = []
  const start = performance.now()
  const end = start + seconds * 1000
  try {
    while (performance.now() < end) {
      const t0 = performance.now()
      writeSync(fd, block)
      fsyncSync(fd)
      latencies.push(performance.now() - t0)
    }
  } finally {
    closeSync(fd)
  }
  return summarize(latencies, performance.now() - start)
}

// Entry data is made once: the benchmark measures storing entries, not allocating them.
const DATA = Array.from({ length: 256 }, (_, i) => Buffer.alloc(ENTRY_BYTES, i))

function entries(first: number, count: number): Entry[] {
  const out: Entry[] = new Array(count)
  for (let i = 0; i < count; i++) out[i] = { index: first + i, term: 1, type: EntryType.Normal, data: DATA[(first + i) & 0xff] }
  return out
}

/** Sequential saves (one in flight) of `batch` entries for `seconds`. */
async function sequential(store: LevelLogStore, batch: number, seconds: number): Promise<Measure> {
  const latencies: number[] = []
  let next = store.lastIndex() + 1
  const start = performance.now()
  const end = start + seconds * 1000
  while (performance.now() < end) {
    const ents = entries(next, batch)
    const t0 = performance.now()
    await store.save({ entries: ents, hardState: { term: 1, vote: 1, commit: next - 1 } })
    latencies.push(performance.now() - t0)
    next += batch
  }
  return summarize(latencies, performance.now() - start)
}

/** `inFlight` concurrent single-entry saves, kept topped up for `seconds`: group commit at work. */
async function concurrent(store: LevelLogStore, inFlight: number, seconds: number): Promise<Measure & { batches: number }> {
  const latencies: number[] = []
  let next = store.lastIndex() + 1
  const batchesBefore = store.stats.batches
  const start = performance.now()
  const end = start + seconds * 1000
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const ents = entries(next++, 1)
      const t0 = performance.now()
      await store.save({ entries: ents })
      latencies.push(performance.now() - t0)
    }
  }
  // NB: indexes are taken in submission order and saves are applied in that order, so the log
  // stays contiguous although the workers interleave.
  await Promise.all(Array.from({ length: inFlight }, worker))
  return { ...summarize(latencies, performance.now() - start), batches: store.stats.batches - batchesBefore }
}

/** Raw classic-level sync batches: one key per entry versus one record holding the batch. */
async function layouts(dir: string, seconds: number): Promise<Array<[string, number, Measure]>> {
  const out: Array<[string, number, Measure]> = []
  for (const layout of ['key per entry', 'record per batch'] as const) {
    for (const batch of [1, 256]) {
      const path = join(dir, `layout-${layout.replace(/ /g, '-')}-${batch}`)
      const db = new Level<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
      await db.open()
      const latencies: number[] = []
      let next = 0
      const start = performance.now()
      const end = start + seconds * 1000
      while (performance.now() < end) {
        const key = (i: number): Buffer => {
          const k = Buffer.alloc(8)
          k.writeUInt32BE(i, 4)
          return k
        }
        const ops =
          layout === 'key per entry'
            ? Array.from({ length: batch }, (_, i) => ({ type: 'put' as const, key: key(next + i), value: Buffer.alloc(ENTRY_BYTES, i) }))
            : [{ type: 'put' as const, key: key(next), value: Buffer.alloc(ENTRY_BYTES * batch + 4 * batch, 1) }]
        const t0 = performance.now()
        await db.batch(ops, { sync: true } as object)
        latencies.push(performance.now() - t0)
        next += batch
      }
      out.push([layout, batch, summarize(latencies, performance.now() - start)])
      await db.close()
    }
  }
  return out
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
const pad = (s: string, n: number): string => s.padStart(n)

export async function main(args: string[]): Promise<void> {
  const secondsArg = args.indexOf('--seconds')
  const seconds = secondsArg >= 0 ? Number(args[secondsArg + 1]) : 1.5
  const dirArg = args.indexOf('--dir')
  const base = mkdtempSync(join(dirArg >= 0 ? args[dirArg + 1] : tmpdir(), 'metastore-bench-'))
  try {
    console.log(`storage benchmark: ${ENTRY_BYTES}-byte entries, sync writes, ${seconds} s per figure, in ${base}`)
    // The disk's limit for a batch of N entries: the raw rate of write(N x 256 B)+fsync, times N.
    const disk = new Map<number, Measure>()
    for (const batch of BATCHES) {
      const m = rawFsync(base, seconds, batch * ENTRY_BYTES)
      disk.set(batch, m)
      console.log(
        `disk: write(${fmt(batch * ENTRY_BYTES)} B)+fsync ${pad(fmt(m.opsPerSecond), 6)}/s = ${pad(fmt(m.opsPerSecond * batch), 9)} entries/s, ` +
          `p50 ${fmt(m.p50, 3)} ms, p99 ${fmt(m.p99, 3)} ms`,
      )
    }
    console.log('"disk/s" = the disk limit in entries/s for that batch size, measured again just before the row')
    console.log('(the machine is shared); "x disk" = entries/s over it; "p50 x" = p50 over the raw p50.\n')
    console.log(
      `${'engine'.padEnd(8)} ${pad('batch', 9)} ${pad('entries/s', 11)} ${pad('saves/s', 9)} ${pad('disk/s', 9)} ${pad('x disk', 7)} ${pad('p50 ms', 8)} ${pad('p99 ms', 8)} ${pad('p50 x', 6)}`,
    )
    const engines: Array<[string, () => Promise<LevelLogStore>]> = [
      ['memory', () => memoryStorage()],
      ['leveldb', () => levelStorage(join(base, 'leveldb'))],
    ]
    try {
      loadRocksBinding()
      engines.push(['rocksdb', () => rocksdbStorage(join(base, 'rocksdb'))])
    } catch (err) {
      console.log(`rocksdb: skipped (${(err as Error).message})`)
    }
    for (const [name, open] of engines) {
      const store = await open()
      try {
        const row = (label: string, batch: number, m: Measure, limit: Measure): void => {
          console.log(
            `${name.padEnd(8)} ${pad(label, 9)} ${pad(fmt(m.opsPerSecond * batch), 11)} ${pad(fmt(m.opsPerSecond), 9)} ` +
              `${pad(fmt(limit.opsPerSecond * batch), 9)} ${pad(fmt(m.opsPerSecond / limit.opsPerSecond, 2), 7)} ` +
              `${pad(fmt(m.p50, 3), 8)} ${pad(fmt(m.p99, 3), 8)} ${pad(fmt(m.p50 / limit.p50, 2), 6)}`,
          )
        }
        for (const batch of BATCHES) {
          const limit = rawFsync(base, seconds / 2, batch * ENTRY_BYTES)
          row(String(batch), batch, await sequential(store, batch, seconds), limit)
        }
        const limit = rawFsync(base, seconds / 2, ENTRY_BYTES)
        const c = await concurrent(store, 64, seconds)
        row('1 x64cc', 1, c, limit)
        console.log(
          `${name.padEnd(8)} (1 x64cc: 64 single-entry saves kept in flight, group commit wrote ${fmt(c.batches / seconds)} batches/s)`,
        )
      } finally {
        await store.close()
      }
    }
    const disk1 = disk.get(1)!
    console.log('\nlog layouts, raw classic-level batch(ops, { sync: true }), the reason for one record per append:')
    for (const [layout, batch, m] of await layouts(base, seconds)) {
      console.log(
        `  ${layout.padEnd(17)} batch ${pad(String(batch), 3)}: ${pad(fmt(m.opsPerSecond * batch), 9)} entries/s, ` +
          `p50 ${fmt(m.p50, 3)} ms, ${fmt((m.opsPerSecond * batch) / (disk.get(batch)?.opsPerSecond ?? disk1.opsPerSecond) / batch, 2)} x disk`,
      )
    }
  } finally {
    rmSync(base, { recursive: true, force: true })
  }
}
