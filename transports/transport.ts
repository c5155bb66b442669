import type { Message, NodeId } from '../lib/raft/types.js'
import type { ProbeResult } from './probe.js'

export type { ProbeResult } from './probe.js'

/** What a transport delivers to its node. */
export interface TransportHandler {
  /** A batch of messages from `from`, in the order it sent them. */
  onMessages(from: NodeId, messages: readonly Message[]): void
  /** A batch to `to` could not be delivered (the node tells Raft, which slows down replication). */
  onUnreachable(to: NodeId): void
  /**
   * Optional: a snapshot whose data comes as a stream of chunks (see {@link Transport.sendSnapshot}).
   * `message` is the Snap message with empty `snapshot.data`; `chunks` yields the sender's chunks
   * in order with their boundaries kept, and pauses the network while it is not pulled
   * (backpressure). It throws if the stream breaks (connection lost, malformed frame, sender gone).
   * The promise resolves when the node has taken the snapshot, and the transport then tells the
   * sender so; a rejection tells the sender it failed. A transport whose handler has no
   * `onSnapshot` refuses streamed snapshots.
   */
  onSnapshot?(from: NodeId, message: Message, chunks: AsyncIterable<Uint8Array>): Promise<void>
}

/**
 * Moves batches of Raft messages between nodes. Delivery is best effort: Raft tolerates loss,
 * duplication and reordering, so `send` never throws for a network failure; it drops and says so
 * through `onUnreachable` (and the transport's metrics).
 */
export interface Transport {
  /** Starts delivering to `handler` the messages addressed to `self`. */
  start(self: NodeId, handler: TransportHandler): Promise<void>
  /** Sends a batch to one peer. */
  send(to: NodeId, messages: readonly Message[]): void
  /** Learns (or updates) where a peer is. Addresses mean what the transport says they mean. */
  addPeer(id: NodeId, address: string): void
  removePeer(id: NodeId): void
  /**
   * Optional: whether the peer's process is still there. `down` must mean strong evidence that
   * it is gone (its listening socket refused a connection), never a mere timeout: a follower
   * that finds its silent leader `down` stops honouring its lease and elects a new one at once.
   */
  probe?(peer: NodeId): Promise<ProbeResult>
  /**
   * Optional: sends a Snap message whose data is the concatenation of `chunks` pulled one at a
   * time as the network takes them, so that no side holds the whole snapshot in memory. Chunk
   * boundaries reach the receiver's {@link TransportHandler.onSnapshot} as they are. Resolves when
   * the receiver took the snapshot; rejects if it could not be delivered, the receiver refused
   * it, or `chunks` threw (the receiver's stream then throws too). One streamed snapshot per peer
   * at a time: a call while one to the same peer is under way rejects.
   */
  sendSnapshot?(to: NodeId, message: Message, chunks: AsyncIterable<Uint8Array>): Promise<void>
  /** Stops: no delivery after the promise resolves, and no handle is left open. */
  close(): Promise<void>
}
