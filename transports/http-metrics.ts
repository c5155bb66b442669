import type { Counter, Metrics } from '../lib/metrics.js'
import type { RaftLogger } from '../lib/raft/logger.js'

/**
 * The counters a network transport records (the same names for TCP and HTTP, so that a
 * dashboard reads either). `peer` labels the node at the other end; `reason` labels refusals.
 */
export interface TransportCounters {
  readonly sentMessages: Counter
  readonly sentBytes: Counter
  readonly receivedMessages: Counter
  readonly receivedBytes: Counter
  readonly dropped: Counter
  readonly refused: Counter
  readonly malformed: Counter
}

/** Registers (or finds, if the registry already has them) the transport counters. */
export function transportCounters(metrics: Metrics): TransportCounters {
  return {
    sentMessages: metrics.counter('metastore_transport_sent_messages_total', 'Raft messages delivered to a peer'),
    sentBytes: metrics.counter('metastore_transport_sent_bytes_total', 'Bytes of message batches delivered to a peer'),
    receivedMessages: metrics.counter('metastore_transport_received_messages_total', 'Raft messages received from a peer'),
    receivedBytes: metrics.counter('metastore_transport_received_bytes_total', 'Bytes of message batches received from a peer'),
    dropped: metrics.counter('metastore_transport_dropped_messages_total', 'Raft messages dropped: queue full, peer unreachable or refused'),
    refused: metrics.counter('metastore_transport_refused_total', 'Connections or requests refused by the handshake or for want of a session, by reason'),
    malformed: metrics.counter('metastore_transport_malformed_frames_total', 'Frames or requests refused as malformed or oversized, by reason'),
  }
}

/**
 * Logs what hostile or broken peers cause without letting them flood the log: the first line of
 * each kind is written, then at most one per `intervalMs` with the count of lines held back.
 */
export class QuietLog {
  readonly #logger: RaftLogger
  readonly #intervalMs: number
  readonly #last = new Map<string, { at: number; held: number }>()

  constructor(logger: RaftLogger, intervalMs = 5000) {
    this.#logger = logger
    this.#intervalMs = intervalMs
  }

  warn(kind: string, message: string): void {
    const now = performance.now()
    const seen = this.#last.get(kind)
    if (seen && now - seen.at < this.#intervalMs) {
      seen.held++
      return
    }
    const held = seen?.held ?? 0
    if (this.#last.size > 256) this.#last.clear()
    this.#last.set(kind, { at: now, held: 0 })
    this.#logger.warn(held > 0 ? `${message} (and ${held} more like it)` : message)
  }
}
