/**
 * A first-come, first-served lock for the store's writers (batches, compaction steps, restore).
 * Reads never take it: they read from database snapshots.
 *
 * @module
 */
export class Mutex {
  #tail: Promise<void> = Promise.resolve()

  /** Resolves, in call order, with a function that releases the lock (once). */
  lock(): Promise<() => void> {
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    const acquired = this.#tail.then(() => {
      let done = false
      return () => {
        if (!done) {
          done = true
          release()
        }
      }
    })
    this.#tail = this.#tail.then(() => released)
    return acquired
  }
}
