import { SeededRng } from '../lib/raft/rng.js'
import type { Message, NodeId } from '../lib/raft/types.js'
import type { Transport, TransportHandler } from './transport.js'

/** Time for the network: real time, or a virtual clock that a test advances. */
export interface NetworkClock {
  now(): number
  /** Runs `fn` after `ms` milliseconds; returns a function that cancels it. */
  setTimer(ms: number, fn: () => void): () => void
}

export const realTimeClock: NetworkClock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    if (ms <= 0) {
      // No delay: the next turn of the event loop (setTimeout clamps 0 to 1 ms).
      const i = setImmediate(fn)
      return () => clearImmediate(i)
    }
    const t = setTimeout(fn, ms)
    return () => clearTimeout(t)
  },
}

/** Fault injection knobs of an {@link InProcessNetwork}; all randomness comes from `seed`. */
export interface InProcessNetworkOptions {
  readonly seed?: number
  /** Probability that a batch is lost. */
  readonly dropRate?: number
  /** Probability that a batch is delivered twice. */
  readonly duplicateRate?: number
  /** Delay range of a batch, in ms. With a range, batches overtake each other (reordering). */
  readonly minDelayMs?: number
  readonly maxDelayMs?: number
  /** Keep per-link order even with random delays (as TCP does). Default false. */
  readonly fifo?: boolean
  readonly clock?: NetworkClock
}

export interface NetworkStats {
  sent: number
  delivered: number
  dropped: number
  duplicated: number
}

/**
 * A network inside one process for any number of nodes, with faults injected from a seed:
 * partitions, isolation, drops, delays, duplication and reordering. Each node gets its transport
 * with {@link transport}.
 */
export class InProcessNetwork {
  readonly #handlers = new Map<NodeId, TransportHandler>()
  readonly #blocked = new Set<string>()
  readonly #rng: SeededRng
  readonly #clock: NetworkClock
  readonly #pending = new Set<() => void>()
  readonly #linkClock = new Map<string, number>()
  #options: Required<Omit<InProcessNetworkOptions, 'seed' | 'clock'>>
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0 }

  constructor(options: InProcessNetworkOptions = {}) {
    this.#rng = new SeededRng(options.seed ?? 1)
    this.#clock = options.clock ?? realTimeClock
    this.#options = {
      dropRate: options.dropRate ?? 0,
      duplicateRate: options.duplicateRate ?? 0,
      minDelayMs: options.minDelayMs ?? 0,
      maxDelayMs: options.maxDelayMs ?? options.minDelayMs ?? 0,
      fifo: options.fifo ?? false,
    }
  }

  /** Changes fault knobs while running (e.g. stop dropping to let a cluster heal). */
  configure(options: Omit<InProcessNetworkOptions, 'seed' | 'clock'>): void {
    this.#options = { ...this.#options, ...options }
  }

  /** A transport for one node on this network. */
  transport(): Transport {
    return new InProcessTransport(this)
  }

  /** Cuts every link between the groups (each node may talk only within its group). */
  partition(...groups: ReadonlyArray<readonly NodeId[]>): void {
    for (const a of groups) {
      for (const b of groups) {
        if (a === b) continue
        for (const x of a) for (const y of b) this.#blocked.add(`${x}>${y}`)
      }
    }
  }

  /** Cuts one node off from everyone else. */
  isolate(id: NodeId): void {
    for (const other of this.#handlers.keys()) {
      if (other === id) continue
      this.#blocked.add(`${id}>${other}`).add(`${other}>${id}`)
    }
  }

  /** Cuts the link from `from` to `to` only (an asymmetric fault). */
  cut(from: NodeId, to: NodeId): void {
    this.#blocked.add(`${from}>${to}`)
  }

  /** Restores every link. */
  heal(): void {
    this.#blocked.clear()
  }

  /** @internal */
  attach(id: NodeId, handler: TransportHandler): void {
    if (this.#handlers.has(id)) throw new Error(`node ${id} is already on this network`)
    this.#handlers.set(id, handler)
  }

  /** @internal */
  detach(id: NodeId): void {
    this.#handlers.delete(id)
  }

  /** @internal */
  deliver(from: NodeId, to: NodeId, messages: readonly Message[]): void {
    this.stats.sent++
    const sender = this.#handlers.get(from)
    if (this.#blocked.has(`${from}>${to}`) || !this.#handlers.has(to) || this.#rng.chance(this.#options.dropRate)) {
      this.stats.dropped++
      if (sender) this.#later(0, () => this.#handlers.get(from)?.onUnreachable(to))
      return
    }
    const copies = this.#rng.chance(this.#options.duplicateRate) ? 2 : 1
    if (copies === 2) this.stats.duplicated++
    for (let i = 0; i < copies; i++) {
      let delay = this.#options.minDelayMs + this.#rng.int(this.#options.maxDelayMs - this.#options.minDelayMs + 1)
      if (this.#options.fifo) {
        const link = `${from}>${to}`
        const now = this.#clock.now()
        const at = Math.max(now + delay, this.#linkClock.get(link) ?? 0)
        this.#linkClock.set(link, at)
        delay = at - now
      }
      this.#later(delay, () => {
        // Checked again at delivery: a partition may have started while it was in flight.
        const handler = this.#handlers.get(to)
        if (!handler || this.#blocked.has(`${from}>${to}`)) {
          this.stats.dropped++
          return
        }
        this.stats.delivered++
        handler.onMessages(from, messages)
      })
    }
  }

  #later(ms: number, fn: () => void): void {
    const cancel = this.#clock.setTimer(ms, () => {
      this.#pending.delete(cancel)
      fn()
    })
    this.#pending.add(cancel)
  }

  /** Cancels everything in flight (so that a test process exits without waiting for timers). */
  close(): void {
    for (const cancel of this.#pending) cancel()
    this.#pending.clear()
    this.#handlers.clear()
  }
}

class InProcessTransport implements Transport {
  readonly #network: InProcessNetwork
  #self: NodeId | undefined
  #closed = false

  constructor(network: InProcessNetwork) {
    this.#network = network
  }

  async start(self: NodeId, handler: TransportHandler): Promise<void> {
    if (this.#self !== undefined) throw new Error('transport already started')
    this.#self = self
    this.#network.attach(self, handler)
  }

  send(to: NodeId, messages: readonly Message[]): void {
    if (this.#closed || this.#self === undefined || messages.length === 0) return
    this.#network.deliver(this.#self, to, messages)
  }

  // Addresses mean nothing in one process: every node on the network is reachable by id.
  addPeer(): void {}
  removePeer(): void {}

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#self !== undefined) this.#network.detach(this.#self)
  }
}
