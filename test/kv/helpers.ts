// Shared helpers of the KV state machine tests: byte strings, a store fed with envelopes as a
// driver would, and temporary LevelDB directories.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemoryLevel } from 'memory-level'
import { encodeEnvelope } from '../../lib/kv/codec.js'
import type { Command } from '../../lib/kv/commands.js'
import { MvccStore } from '../../lib/kv/mvcc-store.js'
import type { ApplyOptions, AppliedBatch } from '../../lib/kv/mvcc-store.js'
import type { CommandResult, KeyValue, RevisionEvents } from '../../lib/kv/results.js'
import type { LevelDatabase } from '../../lib/storage/level-database.js'

export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)
export const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)

/** A key-value with strings for bytes, for readable assertions. */
export interface Kv {
  key: string
  value: string
  create: number
  mod: number
  version: number
  lease: number
}

export function kv(value: KeyValue): Kv {
  return {
    key: text(value.key),
    value: text(value.value),
    create: value.createRevision,
    mod: value.modRevision,
    version: value.version,
    lease: value.lease,
  }
}

/** Events as `type key@mod=value` strings, grouped by revision. */
export function eventLines(groups: readonly RevisionEvents[]): string[][] {
  return groups.map((group) =>
    group.events.map((e) => `${group.revision}:${e.type} ${text(e.kv.key)}@${e.kv.modRevision}${e.type === 'put' ? `=${text(e.kv.value)}` : ''}`),
  )
}

/** A store with a driver's bookkeeping: the next log index and a sequence per client. */
export class Harness {
  readonly store: MvccStore
  readonly db: LevelDatabase
  index: number
  #seq = new Map<string, number>()

  constructor(store: MvccStore, db: LevelDatabase) {
    this.store = store
    this.db = db
    this.index = store.appliedIndex
  }

  static async memory(): Promise<Harness> {
    const db = new MemoryLevel()
    return new Harness(await MvccStore.open(db), db)
  }

  static async on(db: LevelDatabase): Promise<Harness> {
    return new Harness(await MvccStore.open(db), db)
  }

  /** The entry data of `cmd` from `clientId` with its next sequence number. */
  entry(cmd: Command, clientId = 'client'): { index: number; data: Uint8Array } {
    const seq = (this.#seq.get(clientId) ?? 0) + 1
    this.#seq.set(clientId, seq)
    return { index: ++this.index, data: encodeEnvelope({ clientId, seq, cmd }) }
  }

  /** Applies commands, each as one entry, in one batch. */
  async batch(cmds: Command[], options?: ApplyOptions): Promise<AppliedBatch> {
    return this.store.apply(
      cmds.map((cmd) => this.entry(cmd)),
      options,
    )
  }

  /** Applies one command and returns its result. */
  async run(cmd: Command): Promise<CommandResult> {
    const { results } = await this.batch([cmd])
    return results[0].result
  }

  /** Applies one command and returns its result and events. */
  async runWithEvents(cmd: Command): Promise<{ result: CommandResult; events: RevisionEvents[] }> {
    const { results, events } = await this.batch([cmd])
    return { result: results[0].result, events }
  }

  put(key: string, value: string, extra: { lease?: number; prevKv?: boolean } = {}): Promise<CommandResult> {
    return this.run({ type: 'put', key: utf8(key), value: utf8(value), ...extra })
  }

  del(key: string, rangeEnd?: Uint8Array | string, prevKv?: boolean): Promise<CommandResult> {
    return this.run({
      type: 'deleteRange',
      key: utf8(key),
      ...(rangeEnd === undefined ? {} : { rangeEnd: typeof rangeEnd === 'string' ? utf8(rangeEnd) : rangeEnd }),
      ...(prevKv === undefined ? {} : { prevKv }),
    })
  }

  async get(key: string, revision?: number): Promise<Kv | undefined> {
    const found = await this.store.get(utf8(key), { revision })
    return found === undefined ? undefined : kv(found)
  }

  /** Every live key at `revision` as `key=value`. */
  async dump(revision?: number): Promise<string[]> {
    const { kvs } = await this.store.range({ key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0), revision })
    return kvs.map((item) => `${text(item.key)}=${text(item.value)}`)
  }
}

/** Narrows a result to the expected type (fails the test with the actual result otherwise). */
export function expectType<T extends CommandResult['type']>(result: CommandResult, type: T): Extract<CommandResult, { type: T }> {
  if (result.type !== type) throw new Error(`expected a ${type} result, got ${JSON.stringify(result)}`)
  return result as Extract<CommandResult, { type: T }>
}

/** A fresh directory under the OS temp dir; `remove()` deletes it. */
export function tempDir(label: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `metastore-kv-${label}-`))
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) }
}

/** Every raw record of a database, as hex pairs, to compare whole states. */
export async function rawRecords(db: LevelDatabase): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = []
  for await (const [k, v] of db.iterator({ keyEncoding: 'view', valueEncoding: 'view' }) as AsyncIterable<[Uint8Array, Uint8Array]>) {
    out.push([Buffer.from(k).toString('hex'), Buffer.from(v).toString('hex')])
  }
  return out
}
