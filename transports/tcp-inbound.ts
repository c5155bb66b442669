/**
 * The acceptor's side of a TCP link: the handshake (check the Hello, challenge, check the proof),
 * then frames from the authenticated peer: batches, snapshots reassembled from their chunks, and
 * streamed snapshots handed to the node chunk by chunk as it pulls them.
 * Whatever goes wrong closes this connection only, with a reason for the transport to log and count.
 *
 * @module
 */
import { Buffer } from 'node:buffer'
import type { Socket } from 'node:net'
import { ClosedError, MalformedError, UnauthorizedError, UnreachableError } from '../lib/errors.js'
import { MessageType, type Message, type NodeId } from '../lib/raft/types.js'
import { checkHello, newNonce, proof, verifyProof, type HandshakeOptions, type Hello } from './auth.js'
import { ChunkQueue } from './snapshot-stream.js'
import { FrameError, FrameKind, FrameReader, MAX_HANDSHAKE_FRAME, frame, packControl, unpackControl, type Frame } from './tcp-frames.js'
import { checkAddressing, decodeBatch } from './wire.js'

function addressed(messages: readonly Message[], from: NodeId, to: NodeId): void {
  try {
    checkAddressing(messages, from, to)
  } catch (err) {
    throw new FrameError('addressing', (err as Error).message)
  }
}

/** What an inbound connection needs from its transport. */
export interface InboundHost extends HandshakeOptions {
  /** This node's id (the transport has started). */
  readonly self: NodeId
  readonly maxFrameBytes: number
  readonly maxSnapshotBytes: number
  readonly handshakeTimeoutMs: number
  isKnown(id: NodeId): boolean
  /** A batch from an authenticated peer, checked and addressed to this node. */
  deliver(from: NodeId, messages: Message[], bytes: number): void
  /**
   * A streamed snapshot from an authenticated peer (its message checked and addressed to this
   * node): the node's promise, or undefined when the node takes no streamed snapshots.
   */
  stream(from: NodeId, message: Message, chunks: ChunkQueue): Promise<void> | undefined
  /** Counts what a streamed snapshot brought. */
  received(from: NodeId, messages: number, bytes: number): void
  /** The handshake failed: count and log. */
  refused(reason: string, message: string): void
  /** A frame broke the protocol: count and log. */
  malformed(reason: string, message: string, peer: NodeId | undefined): void
  /** The connection is gone (for the transport's bookkeeping). */
  closed(conn: InboundConnection): void
}

interface SnapshotInProgress {
  readonly message: Message
  readonly total: number
  received: number
  /** Allocated once at the announced size (bounded by maxSnapshotBytes): one copy, no final concatenation. */
  readonly data: Buffer
}

interface StreamInProgress {
  readonly chunks: ChunkQueue
  /** The sender's StreamEnd came: no frame may follow. */
  ended: boolean
}

/** One accepted connection. */
export class InboundConnection {
  readonly #socket: Socket
  readonly #host: InboundHost
  readonly #reader: FrameReader
  #state: 'hello' | 'auth' | 'open' | 'closed' = 'hello'
  #hello: Hello | undefined
  #serverNonce: Uint8Array | undefined
  #timer: ReturnType<typeof setTimeout> | undefined
  #snapshot: SnapshotInProgress | undefined
  #stream: StreamInProgress | undefined
  /** The authenticated peer, once the handshake is done. */
  peer: NodeId | undefined

  constructor(socket: Socket, host: InboundHost) {
    this.#socket = socket
    this.#host = host
    this.#reader = new FrameReader((kind) => this.#limit(kind))
    socket.setNoDelay(true)
    socket.setKeepAlive(true, 10_000)
    this.#timer = setTimeout(() => this.#refuse('timeout', 'protocol', 'no handshake in time'), host.handshakeTimeoutMs)
    socket.on('data', (chunk: Buffer) => this.#onData(chunk))
    socket.on('error', () => {})
    socket.on('close', () => this.#onClose())
  }

  /** Closes the connection now; a streamed snapshot in flight fails with a {@link ClosedError}. */
  close(): void {
    this.#failStream(new ClosedError('the transport closed during the snapshot stream'))
    this.#socket.destroy()
  }

  // A method, not a field test: TypeScript would narrow the field across calls that change it.
  #isClosed(): boolean {
    return this.#state === 'closed'
  }

  #limit(kind: FrameKind): number {
    switch (this.#state) {
      case 'hello':
        return kind === FrameKind.Hello ? MAX_HANDSHAKE_FRAME : 0
      case 'auth':
        return kind === FrameKind.Auth ? MAX_HANDSHAKE_FRAME : 0
      case 'open':
        if (this.#stream) {
          // A stream's connection carries the stream only, and nothing after its end.
          if (this.#stream.ended) return 0
          if (kind === FrameKind.StreamChunk) return this.#host.maxFrameBytes
          return kind === FrameKind.StreamEnd ? 1 : 0
        }
        if (kind === FrameKind.StreamBegin) return this.#snapshot ? 0 : this.#host.maxFrameBytes
        if (kind === FrameKind.Batch) return this.#snapshot ? 0 : this.#host.maxFrameBytes
        if (kind === FrameKind.SnapBegin) return this.#snapshot ? 0 : this.#host.maxFrameBytes
        if (kind === FrameKind.SnapChunk) return this.#snapshot ? Math.max(1, Math.min(this.#host.maxFrameBytes, this.#snapshot.total - this.#snapshot.received)) : 0
        return 0
      default:
        return 0
    }
  }

  #onData(chunk: Buffer): void {
    if (this.#state === 'closed') return
    try {
      this.#reader.push(chunk, (f) => this.#onFrame(f))
    } catch (err) {
      if (this.#isClosed()) return
      if (err instanceof UnauthorizedError) return this.#refuse(err.reason, err.reason, err.message)
      const message = err instanceof Error ? err.message : String(err)
      if (this.#state !== 'open') return this.#refuse('protocol', 'protocol', message)
      this.#host.malformed(err instanceof FrameError ? err.reason : 'decode', message, this.peer)
      this.#failStream(new MalformedError(`the snapshot stream from node ${this.peer} broke: ${message}`))
      this.#shut(false)
    }
  }

  #onFrame(f: Frame): void {
    if (this.#state === 'closed') return
    switch (f.kind) {
      case FrameKind.Hello:
        return this.#onHello(f.payload)
      case FrameKind.Auth:
        return this.#onAuth(f.payload)
      case FrameKind.Batch: {
        const messages = decodeBatch(f.payload)
        addressed(messages, this.peer!, this.#host.self)
        if (messages.length > 0) this.#host.deliver(this.peer!, messages, f.payload.byteLength)
        return
      }
      case FrameKind.SnapBegin:
        return this.#onSnapBegin(f.payload)
      case FrameKind.SnapChunk:
        return this.#onSnapChunk(f.payload)
      case FrameKind.StreamBegin:
        return this.#onStreamBegin(f.payload)
      case FrameKind.StreamChunk:
        this.#host.received(this.peer!, 0, f.payload.byteLength)
        return this.#stream!.chunks.push(f.payload)
      case FrameKind.StreamEnd:
        if (f.payload.byteLength !== 0) throw new FrameError('protocol', 'a StreamEnd frame carries nothing')
        this.#stream!.ended = true
        return this.#stream!.chunks.end()
      default:
        throw new FrameError('protocol', `unexpected ${FrameKind[f.kind]} frame`)
    }
  }

  #onHello(payload: Buffer): void {
    const hello = checkHello(unpackControl(payload), this.#host, this.#host.self, (id) => this.#host.isKnown(id))
    this.#hello = hello
    this.#serverNonce = newNonce()
    const challenge: Record<string, unknown> = { cluster: this.#host.clusterId, id: this.#host.self, nonce: this.#serverNonce }
    if (this.#host.secret !== undefined) {
      challenge.proof = proof(this.#host.secret, 'server', hello.cluster, hello.from, hello.to, hello.nonce, this.#serverNonce)
    }
    this.#state = 'auth'
    this.#socket.write(frame(FrameKind.Challenge, packControl(challenge)))
  }

  #onAuth(payload: Buffer): void {
    const auth = unpackControl(payload)
    const hello = this.#hello!
    if (this.#host.secret !== undefined) {
      const expected = proof(this.#host.secret, 'client', hello.cluster, hello.from, hello.to, hello.nonce, this.#serverNonce!)
      if (!verifyProof(expected, auth.proof)) throw new UnauthorizedError('secret', `node ${hello.from} did not prove the shared secret`)
    }
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.peer = hello.from
    this.#state = 'open'
    this.#socket.write(frame(FrameKind.Ready, packControl({})))
  }

  #onSnapBegin(payload: Buffer): void {
    if (payload.byteLength < 8) throw new FrameError('protocol', 'a snapshot header is too short')
    const total = payload.readUInt32BE(0) * 2 ** 32 + payload.readUInt32BE(4)
    if (total > this.#host.maxSnapshotBytes) throw new FrameError('oversize', `a snapshot of ${total} bytes is over the limit of ${this.#host.maxSnapshotBytes}`)
    const messages = decodeBatch(payload.subarray(8))
    addressed(messages, this.peer!, this.#host.self)
    if (messages.length !== 1 || !messages[0].snapshot || messages[0].snapshot.data.byteLength !== 0) {
      throw new FrameError('protocol', 'a snapshot header must hold one snapshot message without its data')
    }
    this.#snapshot = { message: messages[0], total, received: 0, data: Buffer.allocUnsafeSlow(total) }
    if (total === 0) this.#finishSnapshot()
  }

  #onSnapChunk(payload: Buffer): void {
    const s = this.#snapshot!
    s.data.set(payload, s.received)
    s.received += payload.byteLength
    if (s.received === s.total) this.#finishSnapshot()
  }

  #finishSnapshot(): void {
    const s = this.#snapshot!
    this.#snapshot = undefined
    const data = s.data
    const snap = s.message.snapshot!
    const message: Message = { ...s.message, snapshot: { metadata: snap.metadata, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) } }
    this.#host.deliver(this.peer!, [message], s.total)
    this.#socket.write(frame(FrameKind.SnapAck, packControl({})))
  }

  #onStreamBegin(payload: Buffer): void {
    const messages = decodeBatch(payload)
    const from = this.peer!
    addressed(messages, from, this.#host.self)
    const m = messages[0]
    if (messages.length !== 1 || m.type !== MessageType.Snap || !m.snapshot || m.snapshot.data.byteLength !== 0) {
      throw new FrameError('protocol', 'a streamed snapshot begins with one snapshot message without its data')
    }
    const socket = this.#socket
    const chunks = new ChunkQueue(from, {
      pause: () => socket.pause(),
      resume: () => {
        if (!this.#isClosed()) socket.resume()
      },
      abandoned: () => this.#refuseStream('the node stopped reading it'),
      stalled: () => this.#shut(false),
    })
    this.#stream = { chunks, ended: false }
    this.#host.received(from, 0, payload.byteLength)
    const taken = this.#host.stream(from, m, chunks)
    if (!taken) {
      this.#refuseStream('it takes no streamed snapshots')
      return
    }
    taken.then(
      () => {
        if (this.#isClosed() || this.#stream?.chunks !== chunks) return
        chunks.dispose(new ClosedError('the node settled'))
        if (!chunks.complete) {
          this.#refuseStream('the node returned before the end of the stream')
          return
        }
        this.#host.received(from, 1, 0)
        this.#socket.write(frame(FrameKind.SnapAck, packControl({})))
        this.#shut(true)
      },
      (err: unknown) => this.#refuseStream(err instanceof Error ? err.message : String(err)),
    )
  }

  /** Tells the sender that the streamed snapshot was not taken, and closes. */
  #refuseStream(message: string): void {
    if (this.#isClosed()) return
    this.#failStream(new ClosedError('the snapshot stream was refused'))
    this.#socket.write(frame(FrameKind.StreamRefused, packControl({ message: message.slice(0, 200) })))
    this.#shut(true)
  }

  /** The stream in flight, if the node may still be reading it, throws `err`; its timers go. */
  #failStream(err: Error): void {
    this.#stream?.chunks.dispose(err)
  }

  #refuse(label: string, reason: UnauthorizedError['reason'], message: string): void {
    if (this.#state === 'closed') return
    this.#host.refused(label, message)
    // Say why, then close: the dialer logs the reason instead of guessing.
    this.#socket.write(frame(FrameKind.Refuse, packControl({ reason, message: message.slice(0, 200) })))
    this.#shut(true)
  }

  /** Stops reading; `graceful` lets what was written (a refusal) drain first, for a second at most. */
  #shut(graceful: boolean): void {
    this.#state = 'closed'
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#snapshot = undefined
    if (!graceful) {
      this.#socket.destroy()
      return
    }
    this.#socket.pause()
    // A peer that neither reads nor closes is cut off by the idle timeout.
    this.#socket.setTimeout(1000, () => this.#socket.destroy())
    this.#socket.end()
  }

  #onClose(): void {
    const from = this.peer ?? 0
    this.#failStream(new UnreachableError(from, `the snapshot stream from node ${from} broke: the connection closed`))
    this.#state = 'closed'
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#snapshot = undefined
    this.#host.closed(this)
  }
}
