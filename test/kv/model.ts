// A deliberately naive model of etcd's MVCC semantics for the randomized tests: the whole
// history in an array, every read a scan of it. It shares no code with lib/kv.
import type { Command, Compare, TxnOp } from '../../lib/kv/commands.js'
import { text } from './helpers.js'

export interface ModelKv {
  value: string
  create: number
  mod: number
  version: number
  lease: number
}

interface Version {
  revision: number
  key: string
  kv: ModelKv | undefined
}

/** What the tests compare of a result: its type, revision and the main facts. */
export type Summary = string

const inRange = (key: string, start: string, end: string | undefined): boolean =>
  end === undefined ? key === start : end === '\0' ? key >= start : key >= start && key < end

export class Model {
  revision = 1
  compactRevision = 0
  readonly current = new Map<string, ModelKv>()
  readonly history: Version[] = []
  readonly leases = new Map<number, number>()

  rangeAt(revision: number, start: string, end: string | undefined): Array<[string, ModelKv]> {
    const latest = new Map<string, ModelKv | undefined>()
    for (const v of this.history) if (v.revision <= revision && inRange(v.key, start, end)) latest.set(v.key, v.kv)
    return [...latest.entries()]
      .filter((e): e is [string, ModelKv] => e[1] !== undefined)
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  }

  /** Applies a command; returns the summary the store's result must match. */
  apply(cmd: Command): Summary {
    switch (cmd.type) {
      case 'put': {
        const lease = cmd.lease ?? 0
        if (lease !== 0 && !this.leases.has(lease)) return `error LEASE_NOT_FOUND`
        const rev = this.revision + 1
        this.#put(text(cmd.key), text(cmd.value!), lease, rev)
        this.revision = rev
        return `put ${rev}`
      }
      case 'deleteRange': {
        const n = this.#deleteRange(text(cmd.key), cmd.rangeEnd && text(cmd.rangeEnd), this.revision + 1)
        if (n > 0) this.revision++
        return `deleteRange ${this.revision} ${n}`
      }
      case 'txn': {
        const ok = cmd.compare.every((c) => this.#compare(c))
        const ops = ok ? cmd.success : cmd.failure
        for (const op of ops) if (op.type === 'put' && (op.lease ?? 0) !== 0 && !this.leases.has(op.lease!)) return 'error LEASE_NOT_FOUND'
        const rev = this.revision + 1
        let wrote = false
        const parts: string[] = []
        for (const op of ops) parts.push(this.#txnOp(op, rev, () => (wrote = true)))
        if (wrote) this.revision = rev
        return `txn ${this.revision} ${ok} ${parts.join(',')}`
      }
      case 'compact': {
        if (cmd.revision <= this.compactRevision) return 'error COMPACTED'
        if (cmd.revision > this.revision) return 'error FUTURE_REVISION'
        this.compactRevision = cmd.revision
        return `compact ${this.revision}`
      }
      case 'leaseGrant':
        if (this.leases.has(cmd.id)) return 'error LEASE_EXISTS'
        this.leases.set(cmd.id, cmd.ttlSeconds)
        return `leaseGrant ${this.revision}`
      case 'leaseRevoke': {
        if (!this.leases.has(cmd.id)) return 'error LEASE_NOT_FOUND'
        const n = this.#revoke(cmd.id)
        return `leaseRevoke ${this.revision} ${n}`
      }
      default:
        throw new Error(`the model does not do ${cmd.type}`)
    }
  }

  #put(key: string, value: string, lease: number, rev: number): void {
    const prev = this.current.get(key)
    const kv: ModelKv = { value, create: prev?.create ?? rev, mod: rev, version: (prev?.version ?? 0) + 1, lease }
    this.current.set(key, kv)
    this.history.push({ revision: rev, key, kv })
  }

  #deleteRange(start: string, end: string | undefined, rev: number): number {
    const doomed = [...this.current.keys()].filter((k) => inRange(k, start, end)).sort()
    for (const key of doomed) {
      this.current.delete(key)
      this.history.push({ revision: rev, key, kv: undefined })
    }
    return doomed.length
  }

  #txnOp(op: TxnOp, rev: number, wrote: () => void): string {
    if (op.type === 'put') {
      this.#put(text(op.key), text(op.value!), op.lease ?? 0, rev)
      wrote()
      return 'put'
    }
    if (op.type === 'deleteRange') {
      const n = this.#deleteRange(text(op.key), op.rangeEnd && text(op.rangeEnd), rev)
      if (n > 0) wrote()
      return `del${n}`
    }
    const start = text(op.key)
    const end = op.rangeEnd && text(op.rangeEnd)
    const keys = [...this.current.keys()].filter((k) => inRange(k, start, end)).sort()
    return `range[${keys.map((k) => `${k}=${this.current.get(k)!.value}`).join(' ')}]`
  }

  #compare(c: Compare): boolean {
    const start = text(c.key)
    const end = c.rangeEnd && text(c.rangeEnd)
    const kvs = [...this.current.entries()].filter(([k]) => inRange(k, start, end)).map(([, kv]) => kv)
    if (kvs.length === 0) {
      if (c.target === 'value') return false
      kvs.push({ value: '', create: 0, mod: 0, version: 0, lease: 0 })
    }
    return kvs.every((kv) => {
      const left = c.target === 'value' ? kv.value : c.target === 'version' ? kv.version : c.target === 'createRevision' ? kv.create : c.target === 'modRevision' ? kv.mod : kv.lease
      const right = c.target === 'value' ? text(c.value) : c.value
      switch (c.result) {
        case '=':
          return left === right
        case '!=':
          return left !== right
        case '<':
          return left < right
        case '>':
          return left > right
      }
    })
  }

  #revoke(id: number): number {
    this.leases.delete(id)
    const keys = [...this.current.entries()].filter(([, kv]) => kv.lease === id).map(([k]) => k).sort()
    const rev = this.revision + 1
    for (const key of keys) {
      this.current.delete(key)
      this.history.push({ revision: rev, key, kv: undefined })
    }
    if (keys.length > 0) this.revision = rev
    return keys.length
  }

  /** Events from `from` on, as the lines `eventLines()` makes. */
  eventLines(from: number): string[][] {
    const groups = new Map<number, string[]>()
    for (const v of this.history) {
      if (v.revision < from) continue
      const line = v.kv === undefined ? `${v.revision}:delete ${v.key}@${v.revision}` : `${v.revision}:put ${v.key}@${v.revision}=${v.kv.value}`
      groups.set(v.revision, [...(groups.get(v.revision) ?? []), line])
    }
    return [...groups.values()]
  }
}
