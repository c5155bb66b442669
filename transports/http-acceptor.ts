import type { IncomingMessage, ServerResponse } from 'node:http'
import { ClosedError, MalformedError, TooLargeError, UnauthorizedError, UnreachableError } from '../lib/errors.js'
import { MessageType, type Message, type NodeId } from '../lib/raft/types.js'
import type { TransportHandler } from './transport.js'
import { checkHello, newNonce, proof, verifyProof } from './auth.js'
import type { QuietLog, TransportCounters } from './http-metrics.js'
import { SESSION_HEADER, StreamBodyReader, packControl, parseSessionRequest, readBody, reply, splitSnapshotBody, unpackControl } from './http-protocol.js'
import type { SessionTable } from './http-sessions.js'
import { ChunkQueue } from './snapshot-stream.js'
import { checkAddressing, decodeBatch } from './wire.js'

/** What the receiving side needs from its transport. */
export interface AcceptorContext {
  readonly clusterId: string
  readonly secret: string | undefined
  readonly maxBodyBytes: number
  readonly maxSnapshotBytes: number
  /** A request body that stays silent this long is dropped. */
  readonly bodyIdleMs: number
  readonly sessions: SessionTable
  readonly counters: TransportCounters
  readonly log: QuietLog
  /** This node's id and handler, once started and until closed. */
  target(): { self: NodeId; handler: TransportHandler } | undefined
  isKnown(id: NodeId): boolean
}

const CONTROL_LIMIT = 4096

/** How long the rest of a refused stream's body is read (and dropped) before the connection is cut. */
const REFUSED_DRAIN_MS = 5000

type Refusal = { status: number; code: string; reason?: string; message: string; malformed?: MalformedReason }

/** The `reason` label of `metastore_transport_malformed_frames_total` (as the TCP transport's). */
type MalformedReason = 'oversize' | 'decode' | 'addressing' | 'protocol'

/** A request that breaks the protocol, with the label that counts it. */
class ProtocolError extends MalformedError {
  constructor(
    readonly reason: MalformedReason,
    message: string,
  ) {
    super(message)
  }
}

/**
 * The receiving side of the HTTP transport: handshakes, sessions, batches and streamed snapshots.
 * Every request is answered (or its connection closed); nothing a peer sends can throw out of here.
 */
export class HttpAcceptor {
  readonly #c: AcceptorContext
  /** Streamed snapshots in flight: their request, and how to end them when the transport closes. */
  readonly #streams = new Set<() => void>()

  constructor(context: AcceptorContext) {
    this.#c = context
  }

  /** Ends the streamed snapshots in flight: the node's iterables throw a ClosedError, the requests are cut. */
  close(): void {
    for (const end of [...this.#streams]) end()
    this.#streams.clear()
  }

  /** Serves one request under the transport's path; `route` is what follows the path. */
  serve(req: IncomingMessage, res: ServerResponse, route: string): void {
    const target = this.#c.target()
    if (!target) {
      reply(req, res, 503, { code: 'CLOSED', message: 'the transport is not running' }, true)
      return
    }
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST')
      this.#refuse(req, res, { status: 405, code: 'MALFORMED', message: `${String(req.method).slice(0, 16)} is not served here, only POST`, malformed: 'protocol' })
      return
    }
    let work: Promise<void>
    switch (route) {
      case '/handshake':
        work = this.#handshake(req, res, target.self)
        break
      case '/session':
        work = this.#session(req, res, target.self)
        break
      case '/messages':
        work = this.#batch(req, res, false)
        break
      case '/snapshot':
        work = this.#batch(req, res, true)
        break
      case '/snapshot-stream':
        work = this.#stream(req, res)
        break
      default:
        this.#refuse(req, res, { status: 404, code: 'MALFORMED', message: 'no such route', malformed: 'protocol' })
        return
    }
    work.catch((err: unknown) => {
      const r = refusalOf(err)
      // Without a refusal, the peer went away (or stalled) mid-body: nobody is left to answer.
      if (r) this.#refuse(req, res, r)
      else req.destroy()
    })
  }

  async #handshake(req: IncomingMessage, res: ServerResponse, self: NodeId): Promise<void> {
    const { clusterId, secret, sessions } = this.#c
    const body = await readBody(req, CONTROL_LIMIT, this.#c.bodyIdleMs)
    const hello = checkHello(unpackControl(body), { clusterId, secret }, self, (id) => this.#c.isKnown(id))
    const serverNonce = newNonce()
    if (secret === undefined) {
      const s = sessions.issue(hello.from)
      reply(req, res, 200, packControl({ nonce: serverNonce, token: s.token, ttlMs: s.ttlMs }))
      return
    }
    const challenge = sessions.challenge(hello.from, hello.nonce, serverNonce)
    const mine = proof(secret, 'server', clusterId, hello.from, self, hello.nonce, serverNonce)
    reply(req, res, 200, packControl({ nonce: serverNonce, proof: mine, challenge }))
  }

  async #session(req: IncomingMessage, res: ServerResponse, self: NodeId): Promise<void> {
    const { clusterId, secret, sessions } = this.#c
    const body = await readBody(req, CONTROL_LIMIT, this.#c.bodyIdleMs)
    if (secret === undefined) throw new UnauthorizedError('protocol', 'this node has no secret: the handshake gives the session')
    const request = parseSessionRequest(unpackControl(body))
    const c = sessions.takeChallenge(request.challenge)
    if (!c) throw new UnauthorizedError('protocol', 'unknown or expired challenge')
    if (!this.#c.isKnown(c.from)) throw new UnauthorizedError('node', `refused node ${c.from}: not a known peer`)
    const expected = proof(secret, 'client', clusterId, c.from, self, c.clientNonce, c.serverNonce)
    if (!verifyProof(expected, request.proof)) throw new UnauthorizedError('secret', `node ${c.from} failed to prove the cluster secret`)
    const s = sessions.issue(c.from)
    reply(req, res, 200, packControl({ token: s.token, ttlMs: s.ttlMs }))
  }

  /** The peer whose session the request carries; else answers 401 and returns undefined. */
  #sender(req: IncomingMessage, res: ServerResponse): NodeId | undefined {
    const header = req.headers[SESSION_HEADER]
    const from = typeof header === 'string' ? this.#c.sessions.lookup(header) : undefined
    if (from !== undefined && this.#c.isKnown(from)) return from
    this.#c.counters.refused.inc({ reason: 'session' })
    this.#c.log.warn('refused:session', `refused a batch without a valid session from ${remote(req)}`)
    reply(req, res, 401, { code: 'UNAUTHORIZED', reason: 'protocol', message: 'no valid session: handshake first' }, true)
    return undefined
  }

  async #batch(req: IncomingMessage, res: ServerResponse, snapshot: boolean): Promise<void> {
    const from = this.#sender(req, res)
    if (from === undefined) return
    const body = await readBody(req, snapshot ? this.#c.maxSnapshotBytes : this.#c.maxBodyBytes, this.#c.bodyIdleMs)
    const target = this.#c.target()
    if (!target) {
      reply(req, res, 503, { code: 'CLOSED', message: 'the transport is closed' })
      return
    }
    let messages: Message[]
    try {
      messages = snapshot ? decodeSnapshot(body) : decodeBatch(body)
    } catch (err) {
      const malformed = err instanceof ProtocolError ? err.reason : 'decode'
      this.#refuse(req, res, { status: 400, code: 'MALFORMED', message: (err as Error).message, malformed })
      return
    }
    try {
      // A peer speaks for itself only: a batch naming another sender (or another addressee) is dropped whole.
      checkAddressing(messages, from, target.self)
    } catch (err) {
      this.#refuse(req, res, { status: 400, code: 'MALFORMED', message: (err as Error).message, malformed: 'addressing' })
      return
    }
    const label = { peer: from }
    this.#c.counters.receivedMessages.inc(label, messages.length)
    this.#c.counters.receivedBytes.inc(label, body.byteLength)
    try {
      if (messages.length > 0) target.handler.onMessages(from, messages)
    } catch (err) {
      this.#c.log.warn('handler', `the node failed to take a batch from ${from}: ${(err as Error).message}`)
    }
    reply(req, res, 204)
  }

  /**
   * A streamed snapshot: the batch of its message, then chunks handed to the node as it pulls
   * them (the request is paused while it is behind); answered once the node has settled.
   */
  #stream(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const from = this.#sender(req, res)
    if (from === undefined) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      const { counters } = this.#c
      const label = { peer: from }
      const body = new StreamBodyReader(this.#c.maxBodyBytes)
      let chunks: ChunkQueue | undefined
      let done = false
      const finish = (err?: unknown): void => {
        if (done) return
        done = true
        this.#streams.delete(end)
        req.off('data', onData)
        if (err === undefined) resolve()
        else reject(err)
      }
      // The answer once the node settled (or at once, refused); the request is cut if unread.
      const answer = (status: number, code: string, message: string): void => {
        chunks?.dispose(new ClosedError('the snapshot stream was refused'))
        if (status >= 300) this.#c.log.warn(`stream:${from}`, `did not take the snapshot streamed by node ${from}: ${message}`)
        // The connection is kept: closing it with the sender's bytes unread would reset it, and the
        // sender could lose the answer. The rest of the body is read and dropped until the sender,
        // having read the answer, hangs up (or for a few seconds at most).
        reply(req, res, status, status === 204 ? undefined : { code, message: message.slice(0, 200) })
        finish()
        if (!req.complete) {
          const cut = setTimeout(() => req.destroy(), REFUSED_DRAIN_MS)
          cut.unref()
          req.once('close', () => clearTimeout(cut))
          req.resume()
        }
      }
      const end = (): void => {
        chunks?.dispose(new ClosedError('the transport closed during the snapshot stream'))
        req.destroy()
        finish()
      }
      this.#streams.add(end)
      const onHead = (batch: Buffer): void => {
        const target = this.#c.target()
        if (!target) throw new ClosedError('the transport is closed')
        let m: Message
        try {
          const messages = decodeBatch(batch)
          m = messages[0]
          if (messages.length !== 1 || m.type !== MessageType.Snap || !m.snapshot || m.snapshot.data.byteLength !== 0) {
            throw new ProtocolError('protocol', 'a streamed snapshot begins with one snapshot message without its data')
          }
        } catch (err) {
          throw err instanceof ProtocolError ? err : new ProtocolError('decode', (err as Error).message)
        }
        try {
          checkAddressing([m], from, target.self)
        } catch (err) {
          throw new ProtocolError('addressing', (err as Error).message)
        }
        const onSnapshot = target.handler.onSnapshot
        if (!onSnapshot) return answer(501, 'UNSUPPORTED', `node ${target.self} takes no streamed snapshots`)
        const queue = new ChunkQueue(from, {
          pause: () => req.pause(),
          resume: () => {
            if (!done) req.resume()
          },
          abandoned: () => answer(500, 'REFUSED', 'the node stopped reading it'),
          stalled: () => end(),
        })
        chunks = queue
        let taken: Promise<void>
        try {
          taken = Promise.resolve(onSnapshot.call(target.handler, from, m, queue))
        } catch (err) {
          taken = Promise.reject(err)
        }
        taken.then(
          () => {
            if (done) return
            if (!queue.complete) return answer(500, 'REFUSED', 'the node returned before the end of the stream')
            counters.receivedMessages.inc(label, 1)
            answer(204, '', '')
          },
          (err: unknown) => {
            if (done) return
            const e = err as { code?: unknown; message?: unknown }
            answer(500, typeof e?.code === 'string' ? e.code : 'REFUSED', typeof e?.message === 'string' ? e.message : String(err))
          },
        )
      }
      const parts = {
        head: onHead,
        chunk: (data: Buffer) => chunks?.push(data),
        end: () => chunks?.end(),
      }
      const onData = (bytes: Buffer): void => {
        if (done) return
        counters.receivedBytes.inc(label, bytes.byteLength)
        try {
          body.push(bytes, parts)
        } catch (err) {
          chunks?.dispose(new MalformedError(`the snapshot stream from node ${from} broke: ${(err as Error).message}`))
          finish(err)
        }
      }
      req.on('data', onData)
      req.on('end', () => {
        if (!body.ended) {
          chunks?.dispose(new MalformedError(`the snapshot stream from node ${from} ended before its end marker`))
          finish(new ProtocolError('protocol', 'the snapshot stream ended before its end marker'))
        }
      })
      const broken = (): void => {
        chunks?.dispose(new UnreachableError(from, `the snapshot stream from node ${from} broke: the connection closed`))
        finish()
      }
      // Cut short mid-body, or the connection gone before the answer (the node may still be
      // reading what was buffered: only then is its stream broken).
      req.on('close', () => {
        if (!req.complete) broken()
      })
      res.on('close', () => {
        if (!res.writableEnded) broken()
      })
    })
  }

  #refuse(req: IncomingMessage, res: ServerResponse, r: Refusal): void {
    if (r.malformed) this.#c.counters.malformed.inc({ reason: r.malformed })
    else this.#c.counters.refused.inc({ reason: r.reason ?? 'protocol' })
    this.#c.log.warn(`refused:${r.status}:${r.reason ?? ''}`, `refused a request from ${remote(req)} with ${r.status}: ${r.message}`)
    const body = r.reason === undefined ? { code: r.code, message: r.message } : { code: r.code, reason: r.reason, message: r.message }
    reply(req, res, r.status, body, !req.complete)
  }
}

function refusalOf(err: unknown): Refusal | undefined {
  if (err instanceof TooLargeError) return { status: 413, code: err.code, message: err.message, malformed: 'oversize' }
  if (err instanceof ProtocolError) return { status: 400, code: err.code, message: err.message, malformed: err.reason }
  if (err instanceof MalformedError) return { status: 400, code: err.code, message: err.message, malformed: 'protocol' }
  if (err instanceof UnauthorizedError) {
    const status = err.reason === 'protocol' ? 400 : err.reason === 'secret' ? 401 : 403
    return { status, code: err.code, reason: err.reason, message: err.message }
  }
  return undefined
}

/** A snapshot request's body: the batch of one snapshot message, then its data. */
function decodeSnapshot(body: Uint8Array): Message[] {
  const { batch, data } = splitSnapshotBody(body)
  const messages = decodeBatch(batch)
  const m = messages[0]
  if (messages.length !== 1 || m.type !== MessageType.Snap || !m.snapshot) throw new ProtocolError('protocol', 'a snapshot request carries one snapshot message')
  if (m.snapshot.data.byteLength !== 0) throw new ProtocolError('protocol', 'the snapshot data belongs after the batch')
  return [{ ...m, snapshot: { metadata: m.snapshot.metadata, data } }]
}

function remote(req: IncomingMessage): string {
  return `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`
}
