import type { Message } from './types.js'

/**
 * How the leader confirms it is still leader before answering a ReadIndex request.
 * - `safe`: a round of heartbeats acknowledged by a quorum (Raft §6.4). Always correct.
 * - `lease-based`: answer without a round while the leader's lease holds: from the sending of the
 *   last heartbeat round a quorum acknowledged, until one tick short of an election timeout
 *   (followers grant no vote within an election timeout of hearing from the leader). Needs
 *   check-quorum. Saves a round trip but is only correct if ticks run at about the same rate on
 *   every node and no process pauses longer than the lease; past it, reads take the safe path.
 */
export type ReadOnlyOption = 'safe' | 'lease-based'

interface ReadIndexStatus {
  readonly request: Message
  readonly index: number
  readonly acks: Set<number>
}

function keyOf(ctx: Uint8Array | undefined): string {
  if (!ctx) return ''
  let s = ''
  for (let i = 0; i < ctx.length; i++) s += String.fromCharCode(ctx[i])
  return s
}

/**
 * The ReadIndex requests a leader is confirming, in arrival order (Raft §6.4). Each gets a
 * sequence number of the leader's own, which the heartbeats of its confirmation round carry: the
 * requesters' contexts may collide (two followers may use the same one) and are only echoed back.
 */
export class ReadOnly {
  readonly option: ReadOnlyOption
  readonly #pending = new Map<string, ReadIndexStatus>()
  #queue: string[] = []
  #seq = 0

  constructor(option: ReadOnlyOption) {
    this.option = option
  }

  /**
   * Records a request to answer at `index` once a quorum acknowledges a heartbeat carrying the
   * returned context.
   */
  addRequest(index: number, request: Message): Uint8Array {
    const ctx = new Uint8Array(8)
    new DataView(ctx.buffer).setFloat64(0, ++this.#seq)
    const key = keyOf(ctx)
    this.#pending.set(key, { index, request, acks: new Set() })
    this.#queue.push(key)
    return ctx
  }

  /** A heartbeat answer carrying `context` from `id`. Returns who has acknowledged it so far. */
  recvAck(id: number, context: Uint8Array | undefined): ReadonlySet<number> | undefined {
    const rs = this.#pending.get(keyOf(context))
    if (!rs) return undefined
    rs.acks.add(id)
    return rs.acks
  }

  /**
   * The round with `context` was confirmed: its request and every request queued before it (sent
   * earlier, so confirmed by the same quorum round) are released.
   */
  advance(context: Uint8Array | undefined): Array<{ request: Message; index: number }> {
    const key = keyOf(context)
    const i = this.#queue.indexOf(key)
    if (i < 0) return []
    const released = this.#queue.slice(0, i + 1)
    this.#queue = this.#queue.slice(i + 1)
    return released.map((k) => {
      const rs = this.#pending.get(k)!
      this.#pending.delete(k)
      return { request: rs.request, index: rs.index }
    })
  }

  /** The context of the newest pending round: heartbeats carry it so that one round confirms all. */
  lastPendingRequestContext(): Uint8Array | undefined {
    if (this.#queue.length === 0) return undefined
    const key = this.#queue[this.#queue.length - 1]
    return Uint8Array.from(key, (c) => c.charCodeAt(0))
  }

  get pendingCount(): number {
    return this.#queue.length
  }
}
