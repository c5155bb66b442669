/**
 * Simulated time for tests: a {@link Clock} that stands still until the test moves it.
 *
 * @module
 */
import type { Clock } from '../clock.js'
import { TimeoutError } from '../errors.js'

/** Options of a {@link VirtualClock}. */
export interface VirtualClockOptions {
  /** The time `now()` starts at, in ms. Default 0. */
  readonly start?: number
  /**
   * Event-loop turns (`setImmediate`) given to promises and I/O after each instant's timers have
   * fired, before time moves on. Default 3. Raise it when callbacks chain through real I/O (a
   * LevelDB write takes real time, which a virtual clock cannot see).
   */
  readonly settleTurns?: number
  /**
   * Real work under way that time must wait for, such as disk writes: while it returns true,
   * settling goes on turning the event loop (for at most `maxSettleMs` of real time), so that a
   * slow fsync does not look, in virtual time, like a node that stopped answering.
   */
  readonly busy?: () => boolean
  /** Default 5,000. */
  readonly maxSettleMs?: number
}

interface Timer {
  readonly at: number
  /** Creation order: timers due at the same instant fire in the order they were set. */
  readonly seq: number
  readonly fn: () => void
  cancelled: boolean
}

const before = (a: Timer, b: Timer): boolean => a.at < b.at || (a.at === b.at && a.seq < b.seq)

/**
 * A clock whose time moves only when {@link advance} (or {@link runUntil}) moves it. Timers fire in
 * time order (and in creation order within one instant), and between instants the event loop
 * turns a few times so that promise chains and in-memory I/O started by a timer finish before the
 * next one fires. Give one to every node (`createNode({ clock })`) and to the network
 * (`new InProcessNetwork({ clock })`), and minutes of cluster time take a fraction of a second.
 *
 * Nothing moves by itself: a test that awaits a request on a virtual clock must advance it (see
 * {@link runUntil} and {@link drive}).
 *
 * @example
 * ```ts
 * const clock = new VirtualClock()
 * let fired = 0
 * clock.setTimer(1000, () => fired++)
 * await clock.advance(999) // fired === 0
 * await clock.advance(1)   // fired === 1, clock.now() === 1000
 * ```
 */
export class VirtualClock implements Clock {
  #now: number
  #seq = 0
  readonly #heap: Timer[] = []
  readonly #settleTurns: number
  readonly #busy: (() => boolean) | undefined
  readonly #maxSettleMs: number
  /** Serializes advances: two callers moving time at once would fire timers out of order. */
  #moving: Promise<void> = Promise.resolve()

  constructor(options: VirtualClockOptions = {}) {
    const start = options.start ?? 0
    if (!Number.isFinite(start)) throw new TypeError('start must be a finite number')
    const turns = options.settleTurns ?? 3
    if (!Number.isSafeInteger(turns) || turns < 1) throw new TypeError('settleTurns must be a positive integer')
    this.#now = start
    this.#settleTurns = turns
    this.#busy = options.busy
    this.#maxSettleMs = options.maxSettleMs ?? 5000
  }

  /** The current virtual time, in ms. */
  now(): number {
    return this.#now
  }

  /**
   * Runs `fn` once, when the clock reaches `now() + ms` (a negative or non-finite `ms` counts as 0,
   * as with `setTimeout`). Returns a function that cancels it.
   */
  setTimer(ms: number, fn: () => void): () => void {
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0
    const timer: Timer = { at: this.#now + delay, seq: this.#seq++, fn, cancelled: false }
    this.#push(timer)
    return () => {
      timer.cancelled = true
    }
  }

  /** Timers set and neither fired nor cancelled. */
  get pendingTimers(): number {
    let n = 0
    for (const t of this.#heap) if (!t.cancelled) n++
    return n
  }

  /** When the next live timer is due, or undefined if none is. */
  nextTimerAt(): number | undefined {
    this.#dropCancelled()
    return this.#heap[0]?.at
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way, in order, including
   * timers that those timers set. Resolves once the clock stands at the end and the event loop has
   * settled.
   */
  advance(ms: number): Promise<void> {
    if (!Number.isFinite(ms) || ms < 0) throw new TypeError('advance() takes a finite number of ms >= 0')
    const run = this.#moving.then(() => this.#advanceTo(this.#now + ms))
    this.#moving = run.catch(() => {})
    return run
  }

  /**
   * Advances in steps of `stepMs` until `condition` holds (checked before the first step and after
   * each); fails with TIMEOUT if it still does not after `maxMs` of virtual time.
   */
  async runUntil(condition: () => boolean | Promise<boolean>, maxMs: number, stepMs = 10): Promise<void> {
    if (!Number.isFinite(maxMs) || maxMs < 0) throw new TypeError('maxMs must be a finite number >= 0')
    if (!Number.isFinite(stepMs) || stepMs <= 0) throw new TypeError('stepMs must be a positive number')
    const deadline = this.#now + maxMs
    await this.settle()
    while (!(await condition())) {
      if (this.#now >= deadline) throw new TimeoutError(`condition not met within ${maxMs} ms of virtual time`)
      await this.advance(Math.min(stepMs, deadline - this.#now))
    }
  }

  /**
   * Advances the clock until `promise` settles, then resolves or rejects as it did. Fails with
   * TIMEOUT if it has not settled after `maxMs` of virtual time (the promise itself carries on).
   */
  async drive<T>(promise: Promise<T>, maxMs: number, stepMs = 10): Promise<T> {
    let settled = false
    const watched = promise.then(
      (value) => {
        settled = true
        return value
      },
      (err: unknown) => {
        settled = true
        throw err
      },
    )
    // Observed here so that a rejection while the clock moves is not reported as unhandled.
    watched.catch(() => {})
    await this.runUntil(() => settled, maxMs, stepMs)
    return watched
  }

  /**
   * Lets the event loop turn (promises, callbacks of finished I/O) without moving time: a few
   * turns, then more while the `busy` option says real work is under way.
   */
  async settle(): Promise<void> {
    const turn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve))
    for (let i = 0; i < this.#settleTurns; i++) await turn()
    if (!this.#busy?.()) return
    const deadline = performance.now() + this.#maxSettleMs
    while (this.#busy() && performance.now() < deadline) await turn()
    // What the finished work set off gets its turns too.
    for (let i = 0; i < this.#settleTurns; i++) await turn()
  }

  async #advanceTo(target: number): Promise<void> {
    for (;;) {
      this.#dropCancelled()
      const next = this.#heap[0]
      if (next === undefined || next.at > target) break
      this.#now = Math.max(this.#now, next.at)
      // Every timer due at this instant, including those they set with a zero delay.
      while (this.#heap.length > 0 && this.#heap[0].at <= this.#now) {
        const timer = this.#pop()
        if (!timer.cancelled) timer.fn()
      }
      await this.settle()
    }
    this.#now = Math.max(this.#now, target)
    await this.settle()
  }

  #dropCancelled(): void {
    while (this.#heap.length > 0 && this.#heap[0].cancelled) this.#pop()
  }

  // A binary min-heap on (at, seq).
  #push(timer: Timer): void {
    const h = this.#heap
    h.push(timer)
    let i = h.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(h[i], h[parent])) break
      ;[h[i], h[parent]] = [h[parent], h[i]]
      i = parent
    }
  }

  #pop(): Timer {
    const h = this.#heap
    const top = h[0]
    const last = h.pop()!
    if (h.length > 0) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && before(h[l], h[m])) m = l
        if (r < h.length && before(h[r], h[m])) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m], h[i]]
        i = m
      }
    }
    return top
  }
}
