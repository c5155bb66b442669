// Shared by the crash test and its child process: the deterministic content of entries, the
// engines, and the line protocol the child reports on.
import { EntryType, type Entry } from '../../lib/raft/types.js'
import type { LevelLogStore } from '../../lib/storage/level-log-store.js'
import { levelStorage } from '../../lib/storage/level-engine.js'
import { rocksdbStorage } from '../../lib/storage/rocksdb-engine.js'

export type CrashEngine = 'level' | 'rocksdb'

export function openEngine(engine: CrashEngine, path: string): Promise<LevelLogStore> {
  // Small chunks and a small hot tail, so that the test crosses chunk boundaries and reads back.
  const options = { maxChunkEntries: 8, cacheEntries: 64 }
  return engine === 'level' ? levelStorage(path, options) : rocksdbStorage(path, options)
}

/** The data of entry `index` written in `term`: derived from both, so a stale entry is caught. */
export function entryData(index: number, term: number): Uint8Array {
  const data = new Uint8Array(16 + (index % 97))
  let x = (index * 2654435761 + term * 40503) >>> 0
  for (let i = 0; i < data.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    data[i] = x >>> 24
  }
  return data
}

export function makeEntries(start: number, count: number, term: number): Entry[] {
  const out: Entry[] = []
  for (let i = 0; i < count; i++) out.push({ index: start + i, term, type: EntryType.Normal, data: entryData(start + i, term) })
  return out
}

/**
 * Lines the child prints (synchronously: stdout is a pipe), one per event:
 * - `open <firstIndex> <lastIndex> <hardTerm> <commit>` once the store is open;
 * - `issue <k> append <start> <count> <term> <commit>` before save k (hard state term = term);
 * - `issue <k> compact <index>` before compaction k;
 * - `ack <k>` once operation k resolved (is durable).
 */
export type ChildLine =
  | { kind: 'open'; first: number; last: number; hardTerm: number; commit: number }
  | { kind: 'append'; k: number; start: number; count: number; term: number; commit: number }
  | { kind: 'compact'; k: number; index: number }
  | { kind: 'ack'; k: number }

export function parseLine(line: string): ChildLine | undefined {
  const f = line.trim().split(' ')
  const n = f.map(Number)
  if (f[0] === 'open' && f.length === 5) return { kind: 'open', first: n[1], last: n[2], hardTerm: n[3], commit: n[4] }
  if (f[0] === 'issue' && f[2] === 'append' && f.length === 7) {
    return { kind: 'append', k: n[1], start: n[3], count: n[4], term: n[5], commit: n[6] }
  }
  if (f[0] === 'issue' && f[2] === 'compact' && f.length === 4) return { kind: 'compact', k: n[1], index: n[3] }
  if (f[0] === 'ack' && f.length === 2) return { kind: 'ack', k: n[1] }
  return undefined
}
