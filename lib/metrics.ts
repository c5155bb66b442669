/**
 * A small metrics registry that renders the Prometheus text exposition format (version 0.0.4).
 * Nodes and transports record into a {@link Metrics} they are given; the host app (or the
 * `metastore` server's `/metrics` route) renders it. Nothing here does I/O.
 */

export type Labels = Readonly<Record<string, string | number>>

interface Family {
  readonly name: string
  readonly help: string
  readonly type: 'counter' | 'gauge' | 'histogram'
  render(out: string[]): void
}

function labelText(labels: Labels | undefined, extra?: string): string {
  const parts: string[] = []
  if (labels) {
    for (const k of Object.keys(labels).sort()) {
      const v = String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
      parts.push(`${k}="${v}"`)
    }
  }
  if (extra) parts.push(extra)
  return parts.length === 0 ? '' : `{${parts.join(',')}}`
}

/** The identity of a label set, cheap to compute on every update (escaping waits for render). */
function keyOf(labels: Labels | undefined): string {
  if (!labels) return ''
  const keys = Object.keys(labels)
  if (keys.length === 1) return `${keys[0]}\u0000${labels[keys[0]]}`
  return keys
    .sort()
    .map((k) => `${k}\u0000${labels[k]}`)
    .join('\u0001')
}

function num(v: number): string {
  if (v === Infinity) return '+Inf'
  if (v === -Infinity) return '-Inf'
  return Number.isNaN(v) ? 'NaN' : String(v)
}

/** A value that only goes up. */
export class Counter implements Family {
  readonly type = 'counter' as const
  readonly #values = new Map<string, { labels: Labels | undefined; value: number }>()
  constructor(readonly name: string, readonly help: string) {}

  inc(labels?: Labels, by = 1): void {
    const k = keyOf(labels)
    const cur = this.#values.get(k)
    if (cur) cur.value += by
    else this.#values.set(k, { labels, value: by })
  }

  get(labels?: Labels): number {
    return this.#values.get(keyOf(labels))?.value ?? 0
  }

  render(out: string[]): void {
    if (this.#values.size === 0) out.push(`${this.name} 0`)
    for (const { labels, value } of this.#values.values()) out.push(`${this.name}${labelText(labels)} ${num(value)}`)
  }
}

/** A value that goes up and down; set directly, or read from a callback at render time. */
export class Gauge implements Family {
  readonly type = 'gauge' as const
  readonly #values = new Map<string, { labels: Labels | undefined; value: number }>()
  #collect: (() => number) | undefined
  constructor(readonly name: string, readonly help: string, collect?: () => number) {
    this.#collect = collect
  }

  set(value: number, labels?: Labels): void {
    const k = keyOf(labels)
    const cur = this.#values.get(k)
    if (cur) cur.value = value
    else this.#values.set(k, { labels, value })
  }

  /** Reads the value from `fn` at each render (replaces a previous callback). */
  collect(fn: () => number): void {
    this.#collect = fn
  }

  get(labels?: Labels): number {
    if (!labels && this.#collect) return this.#collect()
    return this.#values.get(keyOf(labels))?.value ?? 0
  }

  render(out: string[]): void {
    if (this.#collect) out.push(`${this.name} ${num(this.#collect())}`)
    for (const { labels, value } of this.#values.values()) out.push(`${this.name}${labelText(labels)} ${num(value)}`)
    if (!this.#collect && this.#values.size === 0) out.push(`${this.name} 0`)
  }
}

/** Default latency buckets, in seconds: 0.1 ms to 10 s. */
export const LATENCY_BUCKETS: readonly number[] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** Size buckets, in bytes: 1 KiB to 1 GiB. */
export const SIZE_BUCKETS: readonly number[] = [1024, 16384, 262144, 1048576, 16777216, 268435456, 1073741824]

/** Observations counted into cumulative buckets. */
export class Histogram implements Family {
  readonly type = 'histogram' as const
  readonly #series = new Map<string, { labels: Labels | undefined; counts: number[]; sum: number; count: number }>()
  readonly buckets: readonly number[]
  constructor(readonly name: string, readonly help: string, buckets: readonly number[] = LATENCY_BUCKETS) {
    this.buckets = [...buckets].sort((a, b) => a - b)
  }

  observe(value: number, labels?: Labels): void {
    const k = keyOf(labels)
    let s = this.#series.get(k)
    if (!s) this.#series.set(k, (s = { labels, counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 }))
    s.sum += value
    s.count++
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]) s.counts[i]++
  }

  /** Starts a timer; calling the result observes the elapsed seconds. */
  startTimer(labels?: Labels): () => number {
    const t0 = performance.now()
    return () => {
      const s = (performance.now() - t0) / 1000
      this.observe(s, labels)
      return s
    }
  }

  count(labels?: Labels): number {
    return this.#series.get(keyOf(labels))?.count ?? 0
  }

  render(out: string[]): void {
    const series = this.#series.size === 0 ? [{ labels: undefined, counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 }] : [...this.#series.values()]
    for (const s of series) {
      for (let i = 0; i < this.buckets.length; i++) out.push(`${this.name}_bucket${labelText(s.labels, `le="${num(this.buckets[i])}"`)} ${s.counts[i]}`)
      out.push(`${this.name}_bucket${labelText(s.labels, 'le="+Inf"')} ${s.count}`)
      out.push(`${this.name}_sum${labelText(s.labels)} ${num(s.sum)}`)
      out.push(`${this.name}_count${labelText(s.labels)} ${s.count}`)
    }
  }
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/

/**
 * The registry. Asking twice for a metric of the same name returns the same one, so that a node
 * and its transport can share a registry without coordinating.
 */
export class Metrics {
  readonly #families = new Map<string, Family>()

  counter(name: string, help: string): Counter {
    return this.#get(name, 'counter', () => new Counter(name, help)) as Counter
  }

  gauge(name: string, help: string, collect?: () => number): Gauge {
    const g = this.#get(name, 'gauge', () => new Gauge(name, help, collect)) as Gauge
    if (collect) g.collect(collect)
    return g
  }

  histogram(name: string, help: string, buckets?: readonly number[]): Histogram {
    return this.#get(name, 'histogram', () => new Histogram(name, help, buckets)) as Histogram
  }

  #get(name: string, type: Family['type'], make: () => Family): Family {
    if (!NAME.test(name)) throw new TypeError(`invalid metric name ${JSON.stringify(name)}`)
    const f = this.#families.get(name)
    if (f) {
      if (f.type !== type) throw new TypeError(`metric ${name} is a ${f.type}, not a ${type}`)
      return f
    }
    const made = make()
    this.#families.set(name, made)
    return made
  }

  /** The Prometheus text format (`Content-Type: text/plain; version=0.0.4`). */
  render(): string {
    const out: string[] = []
    for (const f of this.#families.values()) {
      out.push(`# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`)
      out.push(`# TYPE ${f.name} ${f.type}`)
      f.render(out)
    }
    return out.join('\n') + '\n'
  }
}
