/**
 * Time as the driver sees it: real time, or a virtual clock that a test advances (see
 * `metastore-kv/testing`). Everything in a node that waits (ticks, request timeouts, lease
 * expiry) goes through one of these, so that a whole cluster can run on simulated time.
 */
export interface Clock {
  /** Milliseconds, monotonic for the life of the clock. */
  now(): number
  /** Runs `fn` once after `ms` milliseconds; returns a function that cancels it. */
  setTimer(ms: number, fn: () => void): () => void
}

export const realTimeClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms)
    return () => clearTimeout(t)
  },
}

/** Runs `fn` every `ms` milliseconds on `clock` until the returned function is called. */
export function every(clock: Clock, ms: number, fn: () => void): () => void {
  let cancel: (() => void) | undefined
  let stopped = false
  const arm = (): void => {
    cancel = clock.setTimer(ms, () => {
      if (stopped) return
      arm()
      fn()
    })
  }
  arm()
  return () => {
    stopped = true
    cancel?.()
  }
}
