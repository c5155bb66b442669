/**
 * The HTTP transport's protocol, shared by its two sides.
 *
 * Every request is a `POST` under the transport's path (default `/raft`):
 *
 * | route                | body                               | answer                                      |
 * | -------------------- | ---------------------------------- | ------------------------------------------- |
 * | `<path>/handshake`   | msgpack {@link Hello}              | 200 msgpack {@link HandshakeReply}          |
 * | `<path>/session`     | msgpack {@link SessionRequest}     | 200 msgpack {@link SessionReply}            |
 * | `<path>/messages`    | a wire batch (`encodeBatch`)       | 204                                         |
 * | `<path>/snapshot`    | u32 length, a wire batch of one snapshot message without its data, then the data | 204 |
 * | `<path>/snapshot-stream` | chunked: u32 length and the same batch, then each chunk as a u32 length and its bytes, then the u32 {@link STREAM_END} | 204 once the node took it |
 *
 * Batches carry the session token in the {@link SESSION_HEADER} header. Refusals are answered with
 * a status (400 malformed, 401 no valid session or a failed proof, 403 another cluster or an
 * unknown node, 404 no such route, 405 not a POST, 413 too large, 503 closed) and a small JSON body
 * `{ code, reason?, message }`. A streamed snapshot the node did not take is answered 500 (501 when
 * the node takes none) with such a body.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Packr } from 'msgpackr'
import { MalformedError, TooLargeError } from '../lib/errors.js'
import { ByteQueue } from './byte-queue.js'

/** The header that carries a session token. */
export const SESSION_HEADER = 'x-metastore-session'

/** The acceptor's answer to a Hello. */
export interface HandshakeReply {
  /** The acceptor's nonce. */
  readonly nonce: Uint8Array
  /** With a secret: the acceptor's proof (role `server`), and the challenge to answer. */
  readonly proof?: Uint8Array
  readonly challenge?: string
  /** Without a secret: the session at once. */
  readonly token?: string
  readonly ttlMs?: number
}

/** The dialer's proof (role `client`) for a challenge. */
export interface SessionRequest {
  readonly challenge: string
  readonly proof: Uint8Array
}

/** The acceptor's answer to a proof: the token that batches carry, and how long it lasts. */
export interface SessionReply {
  readonly token: string
  readonly ttlMs: number
}

const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true })

/** Encodes a handshake message. */
export function packControl(value: object): Uint8Array {
  return packr.pack(value)
}

/** Decodes a handshake message; throws {@link MalformedError} for anything but a map. */
export function unpackControl(bytes: Uint8Array): Record<string, unknown> {
  let v: unknown
  try {
    v = packr.unpack(bytes)
  } catch (err) {
    throw new MalformedError(`not msgpack (${err instanceof Error ? err.message.slice(0, 120) : 'unknown'})`)
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) throw new MalformedError('not a map')
  return v as Record<string, unknown>
}

/** Reads a handshake reply; throws {@link MalformedError} when a field is missing or mistyped. */
export function parseHandshakeReply(v: Record<string, unknown>): HandshakeReply {
  if (!(v.nonce instanceof Uint8Array)) throw new MalformedError('the handshake reply has no nonce')
  if (v.proof !== undefined && !(v.proof instanceof Uint8Array)) throw new MalformedError('the handshake proof is not binary')
  if (v.challenge !== undefined && typeof v.challenge !== 'string') throw new MalformedError('the challenge is not a string')
  if (v.token !== undefined && typeof v.token !== 'string') throw new MalformedError('the token is not a string')
  if (v.ttlMs !== undefined && !isTtl(v.ttlMs)) throw new MalformedError('the session ttl is not a positive integer')
  return v as unknown as HandshakeReply
}

/** Reads the dialer's proof; throws {@link MalformedError} when a field is missing or mistyped. */
export function parseSessionRequest(v: Record<string, unknown>): SessionRequest {
  if (typeof v.challenge !== 'string' || v.challenge.length > 128) throw new MalformedError('the session request has no challenge')
  if (!(v.proof instanceof Uint8Array)) throw new MalformedError('the session request has no proof')
  return v as unknown as SessionRequest
}

/** Reads the acceptor's session token; throws {@link MalformedError} when a field is missing or mistyped. */
export function parseSessionReply(v: Record<string, unknown>): SessionReply {
  if (typeof v.token !== 'string' || v.token.length === 0) throw new MalformedError('the session reply has no token')
  if (!isTtl(v.ttlMs)) throw new MalformedError('the session ttl is not a positive integer')
  return v as unknown as SessionReply
}

function isTtl(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0
}

/** The length that ends a streamed snapshot's body (a chunk's length is at most `maxBodyBytes`, below it). */
export const STREAM_END = 0xffff_ffff

/** A u32 big-endian length prefix. */
export function lengthPrefix(n: number): Uint8Array {
  const h = new Uint8Array(4)
  new DataView(h.buffer).setUint32(0, n)
  return h
}

/**
 * Cuts the body of a streamed snapshot (`<path>/snapshot-stream`) into its parts as the bytes
 * come: the batch, each chunk with its boundaries, the end. Throws {@link MalformedError} (or
 * {@link TooLargeError} for a part over `limit`) from {@link push}; nothing may follow the end.
 */
export class StreamBodyReader {
  readonly #limit: number
  readonly #bytes = new ByteQueue()
  // The length of the part being read, once its prefix is in.
  #length = -1
  #head = true
  #ended = false

  constructor(limit: number) {
    this.#limit = Math.min(limit, STREAM_END - 1)
  }

  /** Whether the end marker has come. */
  get ended(): boolean {
    return this.#ended
  }

  /** Adds received bytes; calls back for each part completed, in order. */
  push(bytes: Buffer, on: { head(batch: Buffer): void; chunk(data: Buffer): void; end(): void }): void {
    if (bytes.byteLength === 0) return
    if (this.#ended) throw new MalformedError('bytes after the end of a snapshot stream')
    this.#bytes.push(bytes)
    for (;;) {
      if (this.#length < 0) {
        if (this.#bytes.length < 4) return
        const n = this.#bytes.take(4).readUInt32BE(0)
        if (n === STREAM_END && !this.#head) {
          this.#ended = true
          if (this.#bytes.length > 0) throw new MalformedError('bytes after the end of a snapshot stream')
          on.end()
          return
        }
        if (n > this.#limit) throw new TooLargeError(this.#head ? 'a snapshot batch' : 'a snapshot chunk', n, this.#limit)
        this.#length = n
      }
      if (this.#bytes.length < this.#length) return
      const part = this.#bytes.take(this.#length)
      this.#length = -1
      if (this.#head) {
        this.#head = false
        on.head(part)
      } else on.chunk(part)
    }
  }
}

/** Splits a snapshot body into its batch (one message, data left out) and the data. */
export function splitSnapshotBody(body: Uint8Array): { batch: Uint8Array; data: Uint8Array } {
  if (body.byteLength < 4) throw new MalformedError('the snapshot body is shorter than its header')
  const len = new DataView(body.buffer, body.byteOffset, 4).getUint32(0)
  if (len > body.byteLength - 4) throw new MalformedError('the snapshot body is shorter than its batch')
  return { batch: body.subarray(4, 4 + len), data: body.subarray(4 + len) }
}

/** The 4-byte header that precedes a snapshot's batch. */
export function snapshotHeader(batchLength: number): Uint8Array {
  const h = new Uint8Array(4)
  new DataView(h.buffer).setUint32(0, batchLength)
  return h
}

/**
 * Reads a request body of at most `limit` bytes. Rejects with {@link TooLargeError} as soon as the
 * declared length or the bytes received pass the limit (without reading the rest), and with a
 * plain Error when the peer goes away or stays silent for `idleMs`.
 */
export function readBody(req: IncomingMessage, limit: number, idleMs: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const declared = req.headers['content-length']
    let expected: number | undefined
    if (declared !== undefined) {
      expected = Number(declared)
      if (!Number.isSafeInteger(expected) || expected < 0) {
        reject(new MalformedError('invalid content-length'))
        return
      }
      if (expected > limit) {
        reject(new TooLargeError('request body', expected, limit))
        return
      }
    }
    // With a declared length, the body is copied into place as it comes: no pause at the end to
    // join the chunks (a 100 MB snapshot would stall the event loop, and the heartbeats, there).
    const whole = expected !== undefined && expected > 64 * 1024 ? Buffer.allocUnsafe(expected) : undefined
    const chunks: Buffer[] = []
    let size = 0
    let done = false
    const finish = (err: Error | undefined, body?: Uint8Array): void => {
      if (done) return
      done = true
      req.setTimeout(0)
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
      req.off('close', onClose)
      if (err) reject(err)
      else resolve(body as Uint8Array)
    }
    const onData = (chunk: Buffer): void => {
      if (size + chunk.byteLength > limit || (whole && size + chunk.byteLength > whole.byteLength)) {
        req.pause()
        finish(new TooLargeError('request body', size + chunk.byteLength, whole ? whole.byteLength : limit))
        return
      }
      if (whole) whole.set(chunk, size)
      else chunks.push(chunk)
      size += chunk.byteLength
    }
    const onEnd = (): void => {
      const b = whole ? whole.subarray(0, size) : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)
      finish(undefined, new Uint8Array(b.buffer, b.byteOffset, b.byteLength))
    }
    const onError = (err: Error): void => finish(err)
    const onClose = (): void => finish(new Error('the request ended before its body'))
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
    req.on('close', onClose)
    req.setTimeout(idleMs, () => {
      finish(new Error('the request body stalled'))
      req.destroy()
    })
  })
}

/** An unread body up to this size is drained to keep the connection; a larger one closes it. */
const DRAIN_LIMIT = 64 * 1024

/**
 * Answers a request. When the body was not read (`unread`), a small one is drained so that the
 * keep-alive connection stays usable; a large or unannounced one closes the connection after the
 * answer rather than reading what the peer may still send (possibly gigabytes it announced).
 */
export function reply(req: IncomingMessage, res: ServerResponse, status: number, body?: { code: string; reason?: string; message: string } | Uint8Array, unread = false): void {
  const declared = req.headers['content-length']
  const close = unread && !(declared !== undefined && /^\d{1,6}$/.test(declared) && Number(declared) <= DRAIN_LIMIT)
  if (res.headersSent || res.destroyed) {
    if (close) req.destroy()
    return
  }
  const headers: Record<string, string | number> = {}
  let payload: Uint8Array | string | undefined
  if (body instanceof Uint8Array) {
    headers['content-type'] = 'application/msgpack'
    payload = body
  } else if (body) {
    headers['content-type'] = 'application/json'
    payload = JSON.stringify(body)
  }
  headers['content-length'] = payload === undefined ? 0 : typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength
  if (close) {
    headers.connection = 'close'
    res.once('finish', () => req.destroy())
  }
  res.writeHead(status, headers)
  res.end(payload)
}


/** Resolves once a writable stream that refused a write drains or closes (see snapshot-stream.ts). */
export { drained } from './snapshot-stream.js'
