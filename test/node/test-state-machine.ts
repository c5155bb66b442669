import { MemoryLevel } from 'memory-level'
import type { AppliedRequest, StateMachine } from '../../lib/node/state-machine.js'
import { EntryType, type ConfState, type Entry, type Snapshot } from '../../lib/raft/types.js'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export interface TestCommand {
  readonly id: string
  readonly key: string
  readonly value: string
}

export const encodeCommand = (c: TestCommand): Uint8Array => encoder.encode(JSON.stringify(c))

/**
 * A small key-value state machine for driver tests, on its own memory-level database (which a
 * test keeps across a node's restart). It deduplicates by request id, as DESIGN rule 4 asks.
 */
export class TestStateMachine implements StateMachine {
  readonly db = new MemoryLevel<string, string>()
  /** Every command applied, in order (what the tests compare across nodes). */
  readonly history: string[] = []
  #applied = 0

  async open(): Promise<{ appliedIndex: number; confState: ConfState | undefined }> {
    const applied = await this.db.get('meta:applied')
    const conf = await this.db.get('meta:conf')
    this.#applied = applied === undefined ? 0 : Number(applied)
    return { appliedIndex: this.#applied, confState: conf === undefined ? undefined : (JSON.parse(conf) as ConfState) }
  }

  async apply(entries: readonly Entry[], confState: ConfState): Promise<ReadonlyArray<AppliedRequest | undefined>> {
    if (entries[0].index !== this.#applied + 1) throw new Error(`applied ${entries[0].index} after ${this.#applied}`)
    const batch = this.db.batch()
    const out: Array<AppliedRequest | undefined> = []
    const seen = new Map<string, string>()
    for (const e of entries) {
      if (e.type !== EntryType.Normal || e.data.length === 0) {
        out.push(undefined)
        continue
      }
      const c = JSON.parse(decoder.decode(e.data)) as TestCommand
      const done = seen.get(c.id) ?? (await this.db.get(`dedup:${c.id}`))
      if (done !== undefined) {
        out.push({ requestId: c.id, result: Number(done) })
        continue
      }
      batch.put(`kv:${c.key}`, c.value)
      batch.put(`dedup:${c.id}`, String(e.index))
      seen.set(c.id, String(e.index))
      this.history.push(`${e.index}:${c.key}=${c.value}`)
      out.push({ requestId: c.id, result: e.index })
    }
    this.#applied = entries[entries.length - 1].index
    batch.put('meta:applied', String(this.#applied))
    batch.put('meta:conf', JSON.stringify(confState))
    await batch.write()
    return out
  }

  async get(key: string): Promise<string | undefined> {
    return this.db.get(`kv:${key}`)
  }

  async snapshot(): Promise<Uint8Array> {
    const all: Array<[string, string]> = []
    for await (const [k, v] of this.db.iterator()) if (!k.startsWith('meta:')) all.push([k, v])
    return encoder.encode(JSON.stringify(all))
  }

  async restore(s: Snapshot): Promise<void> {
    const all = s.data.length === 0 ? [] : (JSON.parse(decoder.decode(s.data)) as Array<[string, string]>)
    const batch = this.db.batch()
    for await (const k of this.db.keys()) batch.del(k)
    for (const [k, v] of all) batch.put(k, v)
    batch.put('meta:applied', String(s.metadata.index))
    batch.put('meta:conf', JSON.stringify(s.metadata.confState))
    await batch.write()
    this.#applied = s.metadata.index
    this.history.push(`snapshot:${s.metadata.index}`)
  }
}
