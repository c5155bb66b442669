import { realTimeClock, type Clock } from '../clock.js'
import { WatchOverflowError } from '../errors.js'
import { inRange } from '../kv/key-range.js'
import type { MvccStore } from '../kv/mvcc-store.js'
import type { RevisionEvents } from '../kv/results.js'

interface Watcher {
  readonly key: Uint8Array | undefined
  readonly rangeEnd: Uint8Array | undefined
  readonly prevKv: boolean
  readonly maxQueued: number
  /** Idle time after which the watcher is told the revision it is current to (0: never). */
  readonly progressMs: number
  /** The newest revision queued (or replayed): the next one starts after it. */
  lastRevision: number
  replaying: boolean
  /** Live events that arrived while replaying history, delivered after it (deduplicated). */
  held: RevisionEvents[]
  readonly queue: RevisionEvents[]
  error: Error | undefined
  closed: boolean
  wake: (() => void) | undefined
}

/**
 * Fans the state machine's events out to watchers. Each watcher gets every revision that touches
 * its range, in order, once, all events of a revision together: history from its start revision
 * first (from the store), then the live events, with the overlap between the two removed by
 * revision. A follower that catches up by snapshot skips live events, so its watchers replay the
 * history the snapshot brought.
 */
export class WatchHub {
  readonly #store: MvccStore
  readonly #clock: Clock
  readonly #watchers = new Set<Watcher>()
  /** Every event up to this revision has been published (what a progress notification reports). */
  #published: number

  constructor(store: MvccStore, clock: Clock = realTimeClock) {
    this.#store = store
    this.#clock = clock
    this.#published = store.revision
  }

  /** The events of a batch just applied, in revision order. */
  publish(batch: readonly RevisionEvents[]): void {
    if (batch.length > 0) this.#published = Math.max(this.#published, batch[batch.length - 1].revision)
    for (const w of this.#watchers) {
      for (const g of batch) {
        if (w.replaying) w.held.push(g)
        else this.#enqueue(w, g)
      }
    }
  }

  /** The state was replaced by a snapshot: every watcher catches up from history. */
  restored(): void {
    this.#published = this.#store.revision
    for (const w of this.#watchers) if (!w.replaying) void this.#replay(w)
  }

  /**
   * Starts a watcher. With `progressMs`, a watcher idle that long gets an empty batch at the
   * revision it is current to (etcd's progress notification): every event up to it was delivered.
   */
  watch(
    range: { key?: Uint8Array; rangeEnd?: Uint8Array },
    fromRevision: number | undefined,
    prevKv: boolean,
    maxQueued: number,
    progressMs = 0,
  ): AsyncIterableIterator<RevisionEvents> {
    const from = fromRevision ?? this.#store.revision + 1
    if (!Number.isSafeInteger(from) || from < 1) throw new TypeError('fromRevision must be a positive integer')
    const w: Watcher = {
      key: range.key,
      rangeEnd: range.rangeEnd,
      prevKv,
      maxQueued,
      progressMs,
      lastRevision: from - 1,
      replaying: false,
      held: [],
      queue: [],
      error: undefined,
      closed: false,
      wake: undefined,
    }
    this.#watchers.add(w)
    void this.#replay(w)
    const stop = (): void => {
      w.closed = true
      this.#watchers.delete(w)
      w.wake?.()
    }
    const iterator: AsyncIterableIterator<RevisionEvents> = {
      next: async () => {
        for (;;) {
          if (w.queue.length > 0) return { value: w.queue.shift()!, done: false }
          if (w.error) {
            stop()
            throw w.error
          }
          if (w.closed) return { value: undefined, done: true }
          let progressDue = false
          let cancel: (() => void) | undefined
          await new Promise<void>((resolve) => {
            w.wake = resolve
            if (w.progressMs > 0) {
              cancel = this.#clock.setTimer(w.progressMs, () => {
                progressDue = true
                resolve()
              })
            }
          })
          cancel?.()
          w.wake = undefined
          if (progressDue && w.queue.length === 0 && !w.replaying && !w.error && !w.closed) {
            const revision = Math.max(this.#published, w.lastRevision)
            return { value: { revision, events: [] }, done: false }
          }
        }
      },
      return: async () => {
        stop()
        return { value: undefined, done: true }
      },
      [Symbol.asyncIterator]() {
        return iterator
      },
    }
    return iterator
  }

  /** Stops every watcher (their iterators end). */
  close(error?: Error): void {
    for (const w of this.#watchers) {
      if (error) w.error = error
      w.closed = true
      w.wake?.()
    }
    this.#watchers.clear()
  }

  async #replay(w: Watcher): Promise<void> {
    w.replaying = true
    try {
      const history = this.#store.eventsSince(w.lastRevision + 1, { key: w.key, rangeEnd: w.rangeEnd, prevKv: w.prevKv })
      for await (const g of history) {
        if (w.closed) return
        this.#enqueue(w, g)
      }
    } catch (err) {
      w.error = err instanceof Error ? err : new Error(String(err))
      w.wake?.()
      return
    } finally {
      // Synchronously: nothing can be published between the flush and going live.
      const held = w.held
      w.held = []
      w.replaying = false
      for (const g of held) this.#enqueue(w, g)
    }
  }

  #enqueue(w: Watcher, g: RevisionEvents): void {
    if (w.closed || w.error || g.revision <= w.lastRevision) return
    w.lastRevision = g.revision
    const events = g.events
      .filter((e) => w.key === undefined || inRange(e.kv.key, w.key, w.rangeEnd))
      .map((e) => (w.prevKv || e.prevKv === undefined ? e : { type: e.type, kv: e.kv }))
    if (events.length === 0) return
    if (w.queue.length >= w.maxQueued) {
      // The consumer is too slow: stop rather than grow without bound, and say where to resume.
      w.error = new WatchOverflowError(w.queue[0].revision, w.maxQueued)
      w.queue.length = 0
      w.wake?.()
      return
    }
    w.queue.push({ revision: g.revision, events })
    w.wake?.()
  }
}
