/**
 * One revision's worth of writes (etcd's `storeTxnWrite`): every put and delete of a command
 * gets the same revision and the next sub-revision, and the revision is only taken if something
 * was written, so a delete that deletes nothing leaves the revision where it was.
 *
 * @module
 */
import { EMPTY } from './bytes.js'
import { escapeKey, histKey, leaseKeyKey, revKey } from './layout.js'
import type { Overlay } from './overlay.js'
import { encodeCurrent, encodeHist, encodeRevision, tombstone } from './records.js'
import type { MetaState } from './records.js'
import type { KeyValue, RevisionEvents, WatchEvent } from './results.js'

/** The mutable state of a batch being prepared. */
export interface BatchState {
  readonly overlay: Overlay
  meta: MetaState
  /** Events of the batch, one group per revision, in revision order. */
  readonly events: RevisionEvents[]
}

/** The writes of one command, at one revision; see the module comment. */
export class WriteTxn {
  readonly #batch: BatchState
  /** The revision this transaction's writes get. */
  readonly revision: number
  #sub = 0
  readonly #events: WatchEvent[] = []
  #ended = false

  constructor(batch: BatchState) {
    this.#batch = batch
    this.revision = batch.meta.revision + 1
  }

  /** Whether anything was written (so the revision is taken). */
  get changed(): boolean {
    return this.#sub > 0
  }

  /** Puts `key`; `previous` is its current key-value, if it is live. Returns the new key-value. */
  put(key: Uint8Array, value: Uint8Array, lease: number, previous: KeyValue | undefined): KeyValue {
    const sub = this.#sub++
    const revision = this.revision
    const kv: KeyValue = {
      key,
      value,
      createRevision: previous === undefined ? revision : previous.createRevision,
      modRevision: revision,
      version: previous === undefined ? 1 : previous.version + 1,
      lease,
    }
    const overlay = this.#batch.overlay
    overlay.put('key', key, encodeCurrent(kv))
    overlay.put('rev', revKey(revision, sub), encodeRevision(kv))
    overlay.put('hist', histKey(escapeKey(key), revision), encodeHist(sub, false))
    if (previous !== undefined && previous.lease !== 0 && previous.lease !== lease) {
      overlay.del('leaseKey', leaseKeyKey(previous.lease, key))
    }
    if (lease !== 0) overlay.put('leaseKey', leaseKeyKey(lease, key), EMPTY)
    this.#events.push(previous === undefined ? { type: 'put', kv } : { type: 'put', kv, prevKv: previous })
    return kv
  }

  /** Deletes the live key `previous.key`. */
  delete(previous: KeyValue): void {
    const sub = this.#sub++
    const revision = this.revision
    const kv = tombstone(previous.key, revision)
    const overlay = this.#batch.overlay
    overlay.del('key', previous.key)
    overlay.put('rev', revKey(revision, sub), encodeRevision(kv))
    overlay.put('hist', histKey(escapeKey(previous.key), revision), encodeHist(sub, true))
    if (previous.lease !== 0) overlay.del('leaseKey', leaseKeyKey(previous.lease, previous.key))
    this.#events.push({ type: 'delete', kv, prevKv: previous })
  }

  /** Ends the transaction: takes the revision if anything was written. Returns the store's revision after it. */
  end(): number {
    if (this.#ended) throw new Error('write transaction already ended')
    this.#ended = true
    if (!this.changed) return this.#batch.meta.revision
    this.#batch.meta = { ...this.#batch.meta, revision: this.revision }
    this.#batch.events.push({ revision: this.revision, events: this.#events })
    return this.revision
  }
}
