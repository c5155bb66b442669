/**
 * The workload every system gets: 16-byte keys drawn uniformly from 10,000, 256-byte values, and
 * a closed loop that keeps a fixed number of operations in flight, warms up, then measures a
 * window of wall time. Latencies are those of the operations that completed inside the window.
 *
 * @module
 */

/** The operations of the matrix. */
export type OpName = 'put' | 'get' | 'get-serializable' | 'txn-cas'
export const OPS: readonly OpName[] = ['put', 'get', 'get-serializable', 'txn-cas']

/** How many distinct keys the load draws from. */
export const KEY_SPACE = 10_000
export const KEY_BYTES = 16
export const VALUE_BYTES = 256

/** The i-th key of the key space: `bench-key-000042` (16 bytes). */
export function keyOf(i: number): string {
  return `bench-key-${String(i).padStart(6, '0')}`
}

/** All keys, made once. */
export const KEYS: readonly string[] = Array.from({ length: KEY_SPACE }, (_, i) => keyOf(i))

/** The value every put writes (printable, so it is the same bytes as a string or as bytes). */
export const VALUE_TEXT = 'v'.repeat(VALUE_BYTES - 16) + '0123456789abcdef'
export const VALUE_BYTES_ARRAY: Uint8Array = new TextEncoder().encode(VALUE_TEXT)

/** A uniformly drawn key (xorshift32: cheap, and the same stream on every run). */
export function keyPicker(seed = 0x9e3779b9): () => string {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return KEYS[x % KEY_SPACE]
  }
}

/** What one measured configuration asks for. */
export interface LoadSpec {
  readonly op: OpName
  readonly concurrency: number
  readonly seconds: number
  readonly warmupSeconds: number
}

/** What a closed loop measured. */
export interface LoadFigures {
  readonly ops: number
  readonly errors: number
  readonly firstError?: string
  readonly seconds: number
  readonly opsPerSec: number
  readonly p50: number
  readonly p99: number
  readonly p999: number
}

/** A growable buffer of latencies (milliseconds). */
class Samples {
  #data = new Float64Array(1 << 16)
  #size = 0

  push(v: number): void {
    if (this.#size === this.#data.length) {
      const bigger = new Float64Array(this.#data.length * 2)
      bigger.set(this.#data)
      this.#data = bigger
    }
    this.#data[this.#size++] = v
  }

  get size(): number {
    return this.#size
  }

  sorted(): Float64Array {
    return this.#data.slice(0, this.#size).sort()
  }
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]
}

const round3 = (v: number): number => Math.round(v * 1000) / 1000

/** Hooks at the edges of the measured window (to sample CPU counters there). */
export interface WindowHooks {
  onWindowStart?(): void | Promise<void>
  onWindowEnd?(): void | Promise<void>
}

/**
 * Runs `op` with `spec.concurrency` calls in flight: warm-up, then `spec.seconds` measured. Each
 * worker draws its own keys. Failed operations are counted, not timed, and do not stop the loop.
 */
export async function closedLoop(op: (key: string) => Promise<unknown>, spec: LoadSpec, hooks: WindowHooks = {}): Promise<LoadFigures> {
  const samples = new Samples()
  let errors = 0
  let firstError: string | undefined
  let measuring = false
  let stopped = false
  let windowStart = 0
  let windowEnd = 0
  const worker = async (w: number): Promise<void> => {
    const pick = keyPicker(0x9e3779b9 ^ (w * 0x85ebca6b))
    while (!stopped) {
      const t0 = performance.now()
      try {
        await op(pick())
        if (measuring) samples.push(performance.now() - t0)
      } catch (err) {
        if (measuring) {
          errors++
          firstError ??= (err as Error).message ?? String(err)
        }
        // A failing system must not turn the loop into a busy spin.
        await new Promise((r) => setTimeout(r, 1))
      }
    }
  }
  const workers = Array.from({ length: spec.concurrency }, (_, w) => worker(w))
  await new Promise((r) => setTimeout(r, spec.warmupSeconds * 1000))
  await hooks.onWindowStart?.()
  measuring = true
  windowStart = performance.now()
  await new Promise((r) => setTimeout(r, spec.seconds * 1000))
  measuring = false
  windowEnd = performance.now()
  await hooks.onWindowEnd?.()
  stopped = true
  await Promise.all(workers)
  const seconds = (windowEnd - windowStart) / 1000
  const sorted = samples.sorted()
  return {
    ops: samples.size,
    errors,
    ...(firstError !== undefined ? { firstError } : {}),
    seconds: round3(seconds),
    opsPerSec: Math.round(samples.size / seconds),
    p50: round3(quantile(sorted, 0.5)),
    p99: round3(quantile(sorted, 0.99)),
    p999: round3(quantile(sorted, 0.999)),
  }
}

/** Runs `op` once for every key, `concurrency` at a time (so that reads and compares find values). */
export async function primeKeys(op: (key: string) => Promise<unknown>, concurrency = 64): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < KEY_SPACE) await op(KEYS[next++])
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
}

/** What {@link firstAck} measured, in ms from its call. */
export interface FirstAck {
  /** The first of the probes (one every `everyMs`) to be acknowledged. */
  readonly firstAckMs: number
  /** The probe sent at once, on its own (with the client's own retries, if it has any). */
  readonly firstRequestMs: number
}

/**
 * After a failure: sends a put at once, then another every `everyMs` (at most `maxOutstanding`
 * unanswered), and times the first acknowledged and the first sent. Failed probes are not
 * retried: the next probe is the retry.
 */
export async function firstAck(put: (key: string) => Promise<unknown>, key: string, everyMs = 10, maxOutstanding = 200): Promise<FirstAck> {
  const started = performance.now()
  let acked: number | undefined
  let outstanding = 0
  const probe = async (): Promise<number | undefined> => {
    outstanding++
    try {
      await put(key)
      const at = performance.now() - started
      acked ??= at
      return at
    } catch {
      return undefined
    } finally {
      outstanding--
    }
  }
  // The first request: retried (by this loop) only when it fails outright.
  const first = (async (): Promise<number> => {
    for (;;) {
      const at = await probe()
      if (at !== undefined) return at
      await new Promise((r) => setTimeout(r, 1))
    }
  })()
  while (acked === undefined) {
    await new Promise((r) => setTimeout(r, everyMs))
    if (acked === undefined && outstanding < maxOutstanding) void probe()
  }
  const firstAckMs = acked
  return { firstAckMs, firstRequestMs: await first }
}
