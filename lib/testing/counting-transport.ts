import type { Message, MessageType, NodeId } from '../raft/types.js'
import type { Transport, TransportHandler } from '../../transports/transport.js'

/** Messages handed to the network, by type. */
export type MessageCounts = Map<MessageType, number>

/**
 * A transport that counts what its node sends (by message type) before passing it on, so that a
 * test can tell, for instance, that a snapshot went over the wire.
 */
export class CountingTransport implements Transport {
  readonly #inner: Transport
  readonly #counts: MessageCounts
  #closed = false

  constructor(inner: Transport, counts: MessageCounts) {
    this.#inner = inner
    this.#counts = counts
  }

  start(self: NodeId, handler: TransportHandler): Promise<void> {
    return this.#inner.start(self, handler)
  }

  send(to: NodeId, messages: readonly Message[]): void {
    if (this.#closed) return
    for (const m of messages) this.#counts.set(m.type, (this.#counts.get(m.type) ?? 0) + 1)
    this.#inner.send(to, messages)
  }

  addPeer(id: NodeId, address: string): void {
    this.#inner.addPeer(id, address)
  }

  removePeer(id: NodeId): void {
    this.#inner.removePeer(id)
  }

  close(): Promise<void> {
    this.#closed = true
    return this.#inner.close()
  }
}
