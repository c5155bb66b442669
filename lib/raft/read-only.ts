import type { Message } from './types.js'

/**
 * How the leader confirms it is still leader before answering a ReadIndex request.
 * - `safe`: a round of heartbeats acknowledged by a quorum (Raft §6.4). Always correct.
 * - `lease-based`: trust that no other leader can exist while the election timeout has not passed
 *   since a quorum last answered (needs check-quorum). Saves a round trip but is only correct if
 *   clocks run at about the same rate on every node and no process pauses longer than the lease.
 */
export type ReadOnlyOption = 'safe' | 'lease-based'

interface ReadIndexStatus {
  readonly request: Message
  readonly index: number
  readonly acks: Set<number>
}

function contextKey(ctx: Uint8Array | undefined): string {
  if (!ctx) return ''
  let s = ''
  for (let i = 0; i < ctx.length; i++) s += String.fromCharCode(ctx[i])
  return s
}

/** The ReadIndex requests a leader is confirming, in arrival order (Raft §6.4). */
export class ReadOnly {
  readonly option: ReadOnlyOption
  readonly #pending = new Map<string, ReadIndexStatus>()
  #queue: string[] = []

  constructor(option: ReadOnlyOption) {
    this.option = option
  }

  /** Records a request to be answered once a quorum acknowledges a heartbeat carrying its context. */
  addRequest(index: number, request: Message): void {
    const key = contextKey(request.context)
    if (this.#pending.has(key)) return
    this.#pending.set(key, { index, request, acks: new Set() })
    this.#queue.push(key)
  }

  /** A heartbeat answer carrying `context` from `id`. Returns who has acknowledged it so far. */
  recvAck(id: number, context: Uint8Array | undefined): ReadonlySet<number> | undefined {
    const rs = this.#pending.get(contextKey(context))
    if (!rs) return undefined
    rs.acks.add(id)
    return rs.acks
  }

  /**
   * The request with `context` was confirmed: it and every request queued before it (confirmed by
   * the same quorum round, since they were sent earlier) are released.
   */
  advance(context: Uint8Array | undefined): Array<{ request: Message; index: number }> {
    const key = contextKey(context)
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

  /** The context of the newest pending request: heartbeats carry it so that one round confirms all. */
  lastPendingRequestContext(): Uint8Array | undefined {
    if (this.#queue.length === 0) return undefined
    return this.#pending.get(this.#queue[this.#queue.length - 1])!.request.context
  }

  get pendingCount(): number {
    return this.#queue.length
  }
}
