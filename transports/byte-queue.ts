/**
 * Received bytes waiting to be cut into frames or parts: appended as they come off the network,
 * taken from the front.
 *
 * @module
 */
import { Buffer } from 'node:buffer'

export class ByteQueue {
  readonly #chunks: Buffer[] = []
  #length = 0

  /** Bytes held. */
  get length(): number {
    return this.#length
  }

  push(bytes: Buffer): void {
    this.#chunks.push(bytes)
    this.#length += bytes.byteLength
  }

  /**
   * The next `n` bytes (at most {@link length}): a view when they sit in one received chunk (the
   * common case: no copy), else a copy of the pieces.
   */
  take(n: number): Buffer {
    this.#length -= n
    const first = this.#chunks[0]
    if (first !== undefined && first.byteLength >= n) {
      if (first.byteLength === n) this.#chunks.shift()
      else this.#chunks[0] = first.subarray(n)
      return first.subarray(0, n)
    }
    const out = Buffer.allocUnsafe(n)
    let at = 0
    while (at < n) {
      const c = this.#chunks[0]
      const want = n - at
      if (c.byteLength <= want) {
        out.set(c, at)
        at += c.byteLength
        this.#chunks.shift()
      } else {
        out.set(c.subarray(0, want), at)
        this.#chunks[0] = c.subarray(want)
        at += want
      }
    }
    return out
  }
}
