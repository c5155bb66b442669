/**
 * The sending side of the TCP transport toward one peer: a bounded queue, one persistent
 * connection that carries batches (what `send` got in one turn of the event loop goes out as one
 * frame), reconnection with capped exponential backoff and jitter, and snapshots (whole, or
 * streamed from the node's source) on a connection of their own so that they never hold up
 * heartbeats.
 *
 * @module
 */
import type { Socket } from 'node:net'
import type { ConnectionOptions } from 'node:tls'
import { ClosedError, MalformedError, UnauthorizedError, UnreachableError } from '../lib/errors.js'
import type { RaftLogger } from '../lib/raft/logger.js'
import type { Message, NodeId } from '../lib/raft/types.js'
import { dial, PeerRefusedError, type TcpAddress } from './tcp-dial.js'
import { SnapshotRefusedError, STREAM_IDLE_MS, checkChunk, drained } from './snapshot-stream.js'
import { FrameKind, FrameReader, MAX_HANDSHAKE_FRAME, SNAPSHOT_CHUNK_BYTES, frame, frameHeader, unpackControl, type Frame } from './tcp-frames.js'
import { canWaitForTurnEnd, encodeBatch, withoutSnapshotData } from './wire.js'

/** What a peer link needs from its transport. */
export interface PeerHost {
  readonly self: NodeId
  readonly clusterId: string
  readonly secret?: string
  readonly tls?: ConnectionOptions
  readonly maxFrameBytes: number
  readonly queueLimit: number
  readonly queueBytes: number
  readonly dialTimeoutMs: number
  readonly backoffMinMs: number
  readonly backoffMaxMs: number
  readonly logger: RaftLogger
  /** Sockets the transport destroys when it closes. */
  track(socket: Socket): void
  untrack(socket: Socket): void
  sent(peer: NodeId, messages: number, bytes: number): void
  dropped(peer: NodeId, messages: number): void
  /** Tells the node, later (never from inside `send`). */
  unreachable(peer: NodeId): void
  reconnecting(peer: NodeId): void
  /** This side refused the peer during the handshake (it failed to authenticate). */
  refused(reason: string): void
}

// A frame collects batches up to about this many bytes (estimated) before it is cut.
const FRAME_TARGET_BYTES = 1024 * 1024
// Stop writing while the socket holds this much unsent: the queue (bounded) takes the rest.
const SOCKET_HIGH_WATER = 4 * 1024 * 1024
// A snapshot receiver that reads nothing for this long is given up on.
const SNAPSHOT_IDLE_MS = 30_000

/** A rough size of a message on the wire, for the queue's byte bound and for cutting frames. */
export function estimateBytes(m: Message): number {
  let n = 48 + (m.context?.byteLength ?? 0)
  for (const e of m.entries) n += e.data.byteLength + 24
  if (m.snapshot) n += m.snapshot.data.byteLength + 64
  return n
}

/** The link to one peer. */
export class PeerLink {
  readonly id: NodeId
  #address: TcpAddress
  readonly #host: PeerHost
  #state: 'idle' | 'connecting' | 'ready' | 'backoff' | 'closed' = 'idle'
  #socket: Socket | undefined
  // Batches waiting for the socket, each kept whole.
  #queue: Message[][] = []
  #queuedMessages = 0
  #queuedBytes = 0
  #failures = 0
  #dialed = false
  #backoffTimer: ReturnType<typeof setTimeout> | undefined
  #flushImmediate: ReturnType<typeof setImmediate> | undefined
  #snapshotBusy = false
  #snapshotNext: Message | undefined
  #snapshotSocket: Socket | undefined
  #streaming = false
  #streamSocket: Socket | undefined

  constructor(id: NodeId, address: TcpAddress, host: PeerHost) {
    this.id = id
    this.#address = address
    this.#host = host
  }

  get address(): TcpAddress {
    return this.#address
  }

  /** Whether the batch connection is open. */
  get connected(): boolean {
    return this.#state === 'ready'
  }

  /** Points the link at a new address; an open connection to the old one is dropped. */
  setAddress(address: TcpAddress): void {
    if (address.host === this.#address.host && address.port === this.#address.port) return
    this.#address = address
    if (this.#state === 'ready' || this.#state === 'connecting') this.#lost(undefined, false)
    if (this.#state === 'backoff') {
      clearTimeout(this.#backoffTimer)
      this.#state = 'idle'
      this.#failures = 0
    }
  }

  /** Queues a batch (no snapshot in it); drops what does not fit. */
  send(batch: readonly Message[]): void {
    if (this.#state === 'closed') return
    if (this.#state === 'backoff') {
      // The peer is known to be down: tell Raft now rather than queue stale messages.
      this.#drop(batch.length)
      return
    }
    let bytes = 0
    for (const m of batch) bytes += estimateBytes(m)
    if (this.#queuedMessages + batch.length > this.#host.queueLimit || (this.#queuedBytes > 0 && this.#queuedBytes + bytes > this.#host.queueBytes)) {
      this.#drop(batch.length)
      return
    }
    this.#queue.push(batch as Message[])
    this.#queuedMessages += batch.length
    this.#queuedBytes += bytes
    if (this.#state === 'idle') this.#dial()
    else if (this.#state === 'ready') {
      // Out now, with whatever waits ahead of it, in one write: a batch that waited for the end
      // of the turn would wait for whatever the sender does next (a follower's answer behind its
      // apply of earlier entries). A socket over its high-water mark takes nothing until it drains.
      if (canWaitForTurnEnd(batch)) this.#scheduleFlush()
      else this.#flush()
    }
  }

  /** Streams a snapshot message on its own connection; a newer one waiting replaces an older one. */
  sendSnapshot(m: Message): void {
    if (this.#state === 'closed') return
    if (this.#snapshotBusy) {
      if (this.#snapshotNext) this.#drop(1)
      this.#snapshotNext = m
      return
    }
    this.#snapshotBusy = true
    void this.#streamSnapshot(m)
  }

  /**
   * Streams a snapshot whose data comes from `chunks` on a connection of its own (see
   * `Transport.sendSnapshot`); one at a time: a second call while one is under way rejects.
   */
  async streamSnapshot(m: Message, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    if (this.#state === 'closed') throw new ClosedError('the transport is closed')
    if (this.#streaming) throw new UnreachableError(this.id, `a streamed snapshot to node ${this.id} is already under way`)
    this.#streaming = true
    try {
      await this.#writeStream(m, chunks)
    } catch (err) {
      if (!this.#isClosed()) {
        this.#host.dropped(this.id, 1)
        this.#host.logger.warn(`${this.#host.self} could not stream a snapshot to node ${this.id}: ${(err as Error)?.message ?? err}`)
      }
      throw err
    } finally {
      this.#streaming = false
    }
  }

  /** Stops everything; what is queued is dropped without a word (the node is closing). */
  close(): void {
    this.#state = 'closed'
    clearTimeout(this.#backoffTimer)
    if (this.#flushImmediate) clearImmediate(this.#flushImmediate)
    this.#flushImmediate = undefined
    this.#socket?.destroy()
    this.#snapshotSocket?.destroy()
    this.#streamSocket?.destroy()
    this.#socket = undefined
    this.#snapshotNext = undefined
    this.#clearQueue()
  }

  // A method, not a field test: TypeScript would narrow the field across awaits that change it.
  #isClosed(): boolean {
    return this.#state === 'closed'
  }

  #drop(messages: number): void {
    this.#host.dropped(this.id, messages)
    this.#host.unreachable(this.id)
  }

  #clearQueue(): number {
    const n = this.#queuedMessages
    this.#queue = []
    this.#queuedMessages = 0
    this.#queuedBytes = 0
    return n
  }

  #dial(): void {
    this.#state = 'connecting'
    if (this.#dialed) this.#host.reconnecting(this.id)
    this.#dialed = true
    const address = this.#address
    dial(this.#dialOptions(address), (s) => this.#host.track(s)).then(
      (socket) => {
        if (this.#state !== 'connecting' || address !== this.#address) {
          this.#host.untrack(socket)
          socket.destroy()
          return
        }
        this.#failures = 0
        this.#socket = socket
        this.#state = 'ready'
        // The acceptor has nothing to say on this link: any byte is a protocol error.
        socket.on('data', () => socket.destroy())
        socket.on('close', () => {
          this.#host.untrack(socket)
          if (socket === this.#socket) this.#lost(new Error('connection closed'), true)
        })
        socket.on('drain', () => this.#scheduleFlush())
        this.#host.logger.debug(`${this.#host.self} connected to node ${this.id} at ${address.host}:${address.port}`)
        this.#scheduleFlush()
      },
      (err: Error) => {
        if (this.#state !== 'connecting' || address !== this.#address) return
        this.#failed(err)
      },
    )
  }

  #dialOptions(address: TcpAddress) {
    return {
      clusterId: this.#host.clusterId,
      secret: this.#host.secret,
      self: this.#host.self,
      to: this.id,
      address,
      tls: this.#host.tls,
      timeoutMs: this.#host.dialTimeoutMs,
    }
  }

  #failed(err: Error): void {
    if (err instanceof UnauthorizedError && !(err instanceof PeerRefusedError)) this.#host.refused(err.reason)
    const log = err instanceof UnauthorizedError ? this.#host.logger.warn : this.#host.logger.debug
    log.call(this.#host.logger, `${this.#host.self} cannot reach node ${this.id} at ${this.#address.host}:${this.#address.port}: ${err.message}`)
    this.#lost(err, true)
  }

  /** The connection failed or ended: drop what waits, tell Raft, and back off (or start over). */
  #lost(err: Error | undefined, backoff: boolean): void {
    const socket = this.#socket
    this.#socket = undefined
    if (socket) {
      this.#host.untrack(socket)
      socket.destroy()
    }
    if (this.#state === 'closed') return
    const dropped = this.#clearQueue()
    if (dropped > 0) this.#host.dropped(this.id, dropped)
    if (err) this.#host.unreachable(this.id)
    if (!backoff) {
      this.#state = 'idle'
      return
    }
    this.#failures++
    const ceiling = Math.min(this.#host.backoffMaxMs, this.#host.backoffMinMs * 2 ** Math.min(this.#failures - 1, 20))
    // Jitter keeps the nodes of a restarted cluster from dialing in lockstep.
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2)
    this.#state = 'backoff'
    this.#backoffTimer = setTimeout(() => {
      this.#backoffTimer = undefined
      if (this.#state === 'backoff') this.#state = 'idle'
    }, delay)
  }

  #scheduleFlush(): void {
    if (this.#flushImmediate || this.#state !== 'ready') return
    this.#flushImmediate = setImmediate(() => {
      this.#flushImmediate = undefined
      this.#flush()
    })
  }

  #flush(): void {
    const socket = this.#socket
    if (this.#state !== 'ready' || !socket) return
    const target = Math.min(FRAME_TARGET_BYTES, Math.floor(this.#host.maxFrameBytes / 4))
    while (this.#queue.length > 0 && socket.writableLength < SOCKET_HIGH_WATER) {
      const messages: Message[] = []
      let bytes = 0
      let batches = 0
      while (batches < this.#queue.length && (batches === 0 || bytes < target)) {
        const batch = this.#queue[batches++]
        for (const m of batch) {
          messages.push(m)
          bytes += estimateBytes(m)
        }
      }
      this.#queue.splice(0, batches)
      this.#queuedMessages -= messages.length
      this.#queuedBytes -= bytes
      const payload = encodeBatch(messages)
      if (payload.byteLength > this.#host.maxFrameBytes) {
        this.#host.logger.warn(`${this.#host.self} dropped ${messages.length} messages to node ${this.id}: ${payload.byteLength} bytes is over the frame limit`)
        this.#drop(messages.length)
        continue
      }
      socket.write(frame(FrameKind.Batch, payload))
      this.#host.sent(this.id, messages.length, payload.byteLength)
    }
    if (this.#queue.length === 0) {
      this.#queuedBytes = 0
      this.#queuedMessages = 0
    }
  }

  async #streamSnapshot(m: Message): Promise<void> {
    let next: Message | undefined = m
    while (next && this.#state !== 'closed') {
      const current: Message = next
      this.#snapshotNext = undefined
      try {
        await this.#writeSnapshot(current)
      } catch (err) {
        if (this.#isClosed()) break
        this.#host.logger.warn(`${this.#host.self} could not send a snapshot to node ${this.id}: ${(err as Error).message}`)
        this.#drop(1)
      }
      next = this.#snapshotNext
    }
    this.#snapshotBusy = false
  }

  async #writeSnapshot(m: Message): Promise<void> {
    const data = m.snapshot!.data
    const head = encodeBatch([withoutSnapshotData(m)])
    const begin = Buffer.allocUnsafe(8 + head.byteLength)
    begin.writeUInt32BE(Math.floor(data.byteLength / 2 ** 32), 0)
    begin.writeUInt32BE(data.byteLength >>> 0, 4)
    begin.set(head, 8)
    if (begin.byteLength > this.#host.maxFrameBytes) throw new Error('the snapshot metadata is over the frame limit')
    const socket = await dial(this.#dialOptions(this.#address), (s) => {
      this.#snapshotSocket = s
      this.#host.track(s)
    })
    try {
      if (this.#state === 'closed') throw new Error('closed')
      socket.setTimeout(SNAPSHOT_IDLE_MS, () => socket.destroy(new Error('the receiver stopped reading')))
      const chunk = Math.min(SNAPSHOT_CHUNK_BYTES, this.#host.maxFrameBytes)
      const closed = new Promise<never>((_, reject) => socket.once('close', () => reject(new Error('the connection closed before the snapshot was acknowledged'))))
      closed.catch(() => {})
      // The acceptor's one word on this link: the snapshot is in.
      const reader = new FrameReader((kind) => (kind === FrameKind.SnapAck ? MAX_HANDSHAKE_FRAME : 0))
      const acked = new Promise<void>((resolve, reject) => {
        socket.on('data', (bytes: Buffer) => {
          try {
            reader.push(bytes, () => resolve())
          } catch (err) {
            reject(err)
          }
        })
      })
      acked.catch(() => {})
      socket.write(frame(FrameKind.SnapBegin, begin))
      for (let at = 0; at < data.byteLength; at += chunk) {
        const piece = data.subarray(at, Math.min(at + chunk, data.byteLength))
        socket.cork()
        socket.write(frameHeader(FrameKind.SnapChunk, piece.byteLength))
        const more = socket.write(piece)
        socket.uncork()
        // Backpressure: wait for the kernel to take this chunk before handing it the next.
        if (!more) await Promise.race([new Promise<void>((resolve) => socket.once('drain', resolve)), closed])
        // Give the event loop a turn between chunks even when the socket takes them all at once
        // (TLS encrypts each one synchronously): heartbeats go out meanwhile.
        else await new Promise<void>((resolve) => setImmediate(resolve))
        if (socket.destroyed) throw new Error('the connection closed')
      }
      await Promise.race([acked, closed])
      socket.end()
      this.#host.sent(this.id, 1, begin.byteLength + data.byteLength)
    } finally {
      this.#host.untrack(socket)
      socket.destroy()
      if (this.#snapshotSocket === socket) this.#snapshotSocket = undefined
    }
  }

  async #writeStream(m: Message, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const limit = this.#host.maxFrameBytes
    const head = encodeBatch([withoutSnapshotData(m)])
    if (head.byteLength > limit) throw new MalformedError('the snapshot message is over the frame limit')
    let socket: Socket
    try {
      socket = await dial(this.#dialOptions(this.#address), (s) => {
        this.#streamSocket = s
        this.#host.track(s)
      })
    } catch (err) {
      if (this.#isClosed()) throw new ClosedError('the transport closed during the snapshot stream')
      if (err instanceof UnauthorizedError) throw err
      throw new UnreachableError(this.id, `cannot reach node ${this.id} for a snapshot: ${(err as Error).message}`)
    }
    let source: AsyncIterator<Uint8Array> | undefined
    // Whether the source is finished with (done, or it threw): it is told to stop otherwise.
    let sourceDone = false
    try {
      if (this.#isClosed()) throw new ClosedError('the transport closed during the snapshot stream')
      // Reset by every byte either way: a receiver that reads slowly keeps the stream alive.
      socket.setTimeout(STREAM_IDLE_MS, () => socket.destroy(new Error(`no progress for ${STREAM_IDLE_MS} ms`)))
      // The receiver's one word on this link: taken (SnapAck) or refused. It settles this promise,
      // as does the end of the connection.
      let lastError: Error | undefined
      socket.on('error', (err) => (lastError = err))
      const reader = new FrameReader((kind) => (kind === FrameKind.SnapAck || kind === FrameKind.StreamRefused ? MAX_HANDSHAKE_FRAME : 0))
      let ended = false
      const answer = new Promise<void>((resolve, reject) => {
        const onFrame = (f: Frame): void => {
          if (f.kind === FrameKind.StreamRefused) {
            const r = unpackControl(f.payload)
            reject(new SnapshotRefusedError(this.id, typeof r.message === 'string' ? r.message.slice(0, 200) : 'no reason given'))
          } else if (!ended) reject(new MalformedError(`node ${this.id} acknowledged a snapshot before its end`))
          else resolve()
        }
        socket.on('data', (bytes: Buffer) => {
          try {
            reader.push(bytes, onFrame)
          } catch (err) {
            reject(new MalformedError(`node ${this.id} answered a snapshot stream with a bad frame: ${(err as Error).message}`))
          }
        })
        socket.on('close', () => {
          if (this.#isClosed()) reject(new ClosedError('the transport closed during the snapshot stream'))
          else reject(new UnreachableError(this.id, `the snapshot stream to node ${this.id} broke: ${lastError?.message ?? 'the connection closed'}`))
        })
      })
      answer.catch(() => {})
      // While the stream goes on, any word from the receiver ends it.
      const stop = answer.then(() => {
        throw new MalformedError(`node ${this.id} acknowledged a snapshot before its end`)
      })
      stop.catch(() => {})
      const write = (kind: FrameKind, payload: Uint8Array): boolean => {
        socket.cork()
        socket.write(frameHeader(kind, payload.byteLength))
        const more = payload.byteLength === 0 || socket.write(payload)
        socket.uncork()
        this.#host.sent(this.id, 0, payload.byteLength + 5)
        return more
      }
      write(FrameKind.StreamBegin, head)
      source = chunks[Symbol.asyncIterator]()
      const it = source
      for (;;) {
        const pulled = it.next().catch((err: unknown) => {
          sourceDone = true
          throw err
        })
        const r = await Promise.race([pulled, stop])
        if (r.done) {
          sourceDone = true
          break
        }
        const chunk = checkChunk(r.value, limit)
        if (!write(FrameKind.StreamChunk, chunk)) {
          // Backpressure: the next chunk is pulled once the kernel has taken this one.
          await Promise.race([drained(socket), stop])
          if (socket.destroyed) await stop
        }
        // A turn of the event loop between chunks even when the socket takes them at once (TLS
        // encrypts each one synchronously): heartbeats go out meanwhile.
        else await Promise.race([new Promise<void>((resolve) => setImmediate(resolve)), stop])
      }
      ended = true
      write(FrameKind.StreamEnd, new Uint8Array(0))
      await answer
      this.#host.sent(this.id, 1, 0)
      socket.end()
    } finally {
      if (source && !sourceDone) void source.return?.()?.catch(() => {})
      this.#host.untrack(socket)
      socket.destroy()
      if (this.#streamSocket === socket) this.#streamSocket = undefined
    }
  }
}
