/**
 * The append messages sent to one follower and not yet acknowledged, as a ring buffer of the last
 * index each carried. It bounds both the count and the bytes in flight (flow control).
 */
export class Inflights {
  readonly #capacity: number
  readonly #maxBytes: number
  readonly #indexes: number[]
  readonly #sizes: number[]
  #start = 0
  #count = 0
  #bytes = 0

  constructor(capacity: number, maxBytes: number) {
    this.#capacity = capacity
    this.#maxBytes = maxBytes
    this.#indexes = new Array<number>(capacity).fill(0)
    this.#sizes = new Array<number>(capacity).fill(0)
  }

  get count(): number {
    return this.#count
  }

  get bytes(): number {
    return this.#bytes
  }

  /** Records an append that carried entries up to `index` and `bytes` of payload. */
  add(index: number, bytes: number): void {
    if (this.full()) throw new Error('cannot add into a full inflights')
    let next = this.#start + this.#count
    if (next >= this.#capacity) next -= this.#capacity
    this.#indexes[next] = index
    this.#sizes[next] = bytes
    this.#count++
    this.#bytes += bytes
  }

  /** Frees every inflight append whose last index is <= `to` (they were acknowledged). */
  freeLE(to: number): void {
    if (this.#count === 0 || to < this.#indexes[this.#start]) return
    let idx = this.#start
    let i = 0
    let bytes = 0
    for (; i < this.#count; i++) {
      if (to < this.#indexes[idx]) break
      bytes += this.#sizes[idx]
      if (++idx >= this.#capacity) idx -= this.#capacity
    }
    this.#count -= i
    this.#bytes -= bytes
    this.#start = this.#count === 0 ? 0 : idx
  }

  /**
   * Frees the oldest inflight append. Used when a heartbeat answer shows the follower is alive
   * while the window is full: appends in it may have been lost, and without a free slot nothing
   * would ever be sent again to find out.
   */
  freeFirstOne(): void {
    if (this.#count === 0) return
    this.freeLE(this.#indexes[this.#start])
  }

  /** Full when either the count or the byte budget is used up. */
  full(): boolean {
    return this.#count === this.#capacity || (this.#maxBytes > 0 && this.#bytes >= this.#maxBytes)
  }

  reset(): void {
    this.#count = 0
    this.#start = 0
    this.#bytes = 0
  }

  clone(): Inflights {
    const c = new Inflights(this.#capacity, this.#maxBytes)
    for (let i = 0, idx = this.#start; i < this.#count; i++) {
      c.add(this.#indexes[idx], this.#sizes[idx])
      if (++idx >= this.#capacity) idx -= this.#capacity
    }
    return c
  }
}
