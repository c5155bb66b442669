/**
 * Framing of the TCP transport: every frame is a 4-byte big-endian payload length, a 1-byte kind,
 * then the payload. The reader refuses a length over the limit of its kind as soon as the header
 * is in, before buffering anything of the payload.
 *
 * @module
 */
import { Buffer } from 'node:buffer'
import { Packr } from 'msgpackr'
import { MalformedError } from '../lib/errors.js'
import { ByteQueue } from './byte-queue.js'

/** A frame that breaks the protocol; `reason` labels the metric that counts it. */
export class FrameError extends MalformedError {
  readonly reason: 'oversize' | 'decode' | 'addressing' | 'protocol'
  constructor(reason: FrameError['reason'], message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'FrameError'
    this.reason = reason
  }
}

/** What a frame carries. */
export enum FrameKind {
  /** Dialer → acceptor: the {@link Hello}. */
  Hello = 1,
  /** Acceptor → dialer: `{ cluster, id, nonce, proof? }`. */
  Challenge = 2,
  /** Dialer → acceptor: `{ proof? }`. */
  Auth = 3,
  /** Acceptor → dialer: the link is open; frames may flow. */
  Ready = 4,
  /** Acceptor → dialer: `{ reason, message }`, then the acceptor closes. */
  Refuse = 5,
  /** A message batch (`encodeBatch`). */
  Batch = 6,
  /** A snapshot message follows: 8-byte total data length, then the batch of the message without its data. */
  SnapBegin = 7,
  /** The next bytes of the snapshot data. */
  SnapChunk = 8,
  /** Acceptor → dialer: the snapshot is in, whole, and delivered (or, streamed, taken by the node). */
  SnapAck = 9,
  /** A streamed snapshot begins: the batch of its message without the data. */
  StreamBegin = 10,
  /** One chunk of a streamed snapshot, as the sender's source yielded it (possibly empty). */
  StreamChunk = 11,
  /** A streamed snapshot's last chunk has gone (empty payload). */
  StreamEnd = 12,
  /** Acceptor → dialer: the streamed snapshot was not taken: `{ message }`, then the acceptor closes. */
  StreamRefused = 13,
}

/** The header: payload length (4 bytes) and kind (1 byte). */
export const HEADER_BYTES = 5

/** Handshake frames are small; anything bigger is refused before it is read. */
export const MAX_HANDSHAKE_FRAME = 4096

/** Snapshot data travels in chunks of this size. */
export const SNAPSHOT_CHUNK_BYTES = 1024 * 1024

const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true })

/** Encodes a handshake value (a plain object) as msgpack. */
export function packControl(value: Record<string, unknown>): Uint8Array {
  return packr.pack(value)
}

/** Decodes a handshake payload; throws {@link FrameError}. */
export function unpackControl(payload: Uint8Array): Record<string, unknown> {
  let v: unknown
  try {
    v = packr.unpack(payload)
  } catch {
    throw new FrameError('protocol', 'a handshake frame is not msgpack')
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) throw new FrameError('protocol', 'a handshake frame is not a map')
  return v as Record<string, unknown>
}

/** The header of a frame of `kind` with `length` payload bytes. */
export function frameHeader(kind: FrameKind, length: number): Buffer {
  const h = Buffer.allocUnsafe(HEADER_BYTES)
  h.writeUInt32BE(length, 0)
  h[4] = kind
  return h
}

/** A whole frame in one buffer (for small frames). */
export function frame(kind: FrameKind, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.byteLength)
  out.writeUInt32BE(payload.byteLength, 0)
  out[4] = kind
  out.set(payload, HEADER_BYTES)
  return out
}

/** One frame read off a socket. */
export interface Frame {
  readonly kind: FrameKind
  readonly payload: Buffer
}

/**
 * Cuts a byte stream into frames. `limit(kind)` gives the largest payload a kind may have at the
 * moment (0 for a kind that is not expected): a frame over it, or of an unknown kind, throws
 * {@link FrameError} from {@link push}, and the caller closes the connection.
 */
export class FrameReader {
  readonly #bytes = new ByteQueue()
  readonly #limit: (kind: FrameKind) => number
  // The header of the frame being read, once it is in.
  #length = -1
  #kind = 0

  constructor(limit: (kind: FrameKind) => number) {
    this.#limit = limit
  }

  /** Bytes received and not yet part of a whole frame. */
  get buffered(): number {
    return this.#bytes.length
  }

  /** Adds received bytes; calls `onFrame` for each frame completed, in order. */
  push(chunk: Buffer, onFrame: (frame: Frame) => void): void {
    this.#bytes.push(chunk)
    for (;;) {
      if (this.#length < 0) {
        if (this.#bytes.length < HEADER_BYTES) return
        const head = this.#bytes.take(HEADER_BYTES)
        const length = head.readUInt32BE(0)
        const kind = head[4]
        if (typeof FrameKind[kind] !== 'string') throw new FrameError('protocol', `unknown frame kind ${kind}`)
        const limit = this.#limit(kind)
        if (limit === 0) throw new FrameError('protocol', `unexpected ${FrameKind[kind]} frame`)
        if (length > limit) throw new FrameError('oversize', `a ${FrameKind[kind]} frame of ${length} bytes is over the limit of ${limit}`)
        this.#length = length
        this.#kind = kind
      }
      if (this.#bytes.length < this.#length) return
      const payload = this.#bytes.take(this.#length)
      const kind = this.#kind as FrameKind
      this.#length = -1
      onFrame({ kind, payload })
    }
  }
}
