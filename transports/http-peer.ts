import http from 'node:http'
import https from 'node:https'
import { ClosedError, MalformedError, UnauthorizedError, UnreachableError } from '../lib/errors.js'
import type { RaftLogger } from '../lib/raft/logger.js'
import { MessageType, type Message, type NodeId } from '../lib/raft/types.js'
import { newNonce, proof, verifyProof, type Hello } from './auth.js'
import type { QuietLog, TransportCounters } from './http-metrics.js'
import {
  lengthPrefix,
  SESSION_HEADER,
  STREAM_END,
  packControl,
  parseHandshakeReply,
  parseSessionReply,
  snapshotHeader,
  unpackControl,
} from './http-protocol.js'
import { SnapshotRefusedError, STREAM_IDLE_MS, checkChunk, drained } from './snapshot-stream.js'
import { WIRE_VERSION, canWaitForTurnEnd, encodeBatch, withoutSnapshotData } from './wire.js'

/** TLS material for HTTPS peers (PEM strings or buffers, as `node:tls` takes them). */
export interface HttpTlsOptions {
  readonly key: string | Buffer
  readonly cert: string | Buffer
  /** Trusted CAs; without it, the system's. */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>
  /** Require and verify a client certificate on the server; present ours to peers. Default false. */
  readonly mutual?: boolean
}

/** What a {@link HttpPeer} is given by its transport. */
export interface HttpPeerOptions {
  readonly self: NodeId
  readonly id: NodeId
  /** The peer's base URL: scheme, host, port and the transport's path. */
  readonly url: URL
  readonly clusterId: string
  readonly secret: string | undefined
  readonly tls: HttpTlsOptions | undefined
  readonly queueLimit: number
  /** Bytes (estimated) queued; past it, new messages are dropped. */
  readonly queueBytes: number
  readonly maxInflight: number
  readonly maxBatchBytes: number
  /** The largest chunk of a streamed snapshot (the acceptor's `maxBodyBytes`). */
  readonly maxChunkBytes: number
  readonly requestTimeoutMs: number
  readonly counters: TransportCounters
  readonly log: QuietLog
  readonly logger: RaftLogger
  /** Tells the node that messages to this peer were lost. */
  readonly unreachable: (id: NodeId) => void
}

interface Reply {
  readonly status: number
  readonly body: Uint8Array
}

type Body = Uint8Array | ((req: http.ClientRequest) => Promise<void>)

const MAX_BATCH_MESSAGES = 4096
const MAX_REPLY_BYTES = 64 * 1024
const SNAPSHOT_CHUNK = 1024 * 1024
const MIN_BACKOFF_MS = 50
const MAX_BACKOFF_MS = 1000

function estimate(m: Message): number {
  let n = 64 + (m.context?.byteLength ?? 0)
  for (const e of m.entries) n += e.data.byteLength + 24
  return n
}

/**
 * The sending side of one link: a bounded queue, coalesced into one batch per flush, POSTed over
 * keep-alive sockets with at most `maxInflight` requests at a time (1 keeps the link FIFO, as
 * TCP does). Snapshots go on a socket of their own, so that heartbeats keep flowing while one
 * streams. Nothing is retried: Raft resends what matters, so a failure drops the batch, counts it
 * and tells the node the peer is unreachable.
 */
export class HttpPeer {
  readonly #o: HttpPeerOptions
  readonly #mod: typeof http | typeof https
  readonly #agent: http.Agent
  readonly #snapshotAgent: http.Agent
  readonly #streamAgent: http.Agent
  readonly #requests = new Set<http.ClientRequest>()
  readonly #label: { peer: NodeId }
  #queue: Message[] = []
  #queuedBytes = 0
  #snapshot: Message | undefined
  #inflight = 0
  #snapshotInflight = false
  #session: { token: string; renewAt: number } | undefined
  #handshaking = false
  #handshakeRun: Promise<void> | undefined
  #handshakeError: Error | undefined
  #streaming = false
  #retryAt = 0
  #backoffMs = 0
  #flushImmediate: NodeJS.Immediate | undefined
  #unreachableImmediate: NodeJS.Immediate | undefined
  #closed = false

  constructor(options: HttpPeerOptions) {
    this.#o = options
    this.#label = { peer: options.id }
    const secure = options.url.protocol === 'https:'
    this.#mod = secure ? https : http
    const tls = secure && options.tls ? { ca: options.tls.ca as https.AgentOptions['ca'], ...(options.tls.mutual ? { key: options.tls.key, cert: options.tls.cert } : {}) } : {}
    this.#agent = new this.#mod.Agent({ keepAlive: true, maxSockets: options.maxInflight + 1, maxFreeSockets: options.maxInflight + 1, ...tls })
    this.#snapshotAgent = new this.#mod.Agent({ keepAlive: false, maxSockets: 1, ...tls })
    this.#streamAgent = new this.#mod.Agent({ keepAlive: false, maxSockets: 1, ...tls })
  }

  /** The URL this peer is reached at. */
  get url(): URL {
    return this.#o.url
  }

  /** Queues messages and sends them at once, or at the end of the turn if they can wait (then what is sent in this turn goes in one batch). */
  send(messages: readonly Message[]): void {
    if (this.#closed) return
    if (this.#retryAt > performance.now()) {
      // The peer failed a moment ago: do not queue what would only go stale.
      this.#drop(messages.length)
      return
    }
    for (const m of messages) {
      if (m.type === MessageType.Snap) {
        if (this.#snapshot) this.#drop(1)
        this.#snapshot = m
      } else {
        const size = estimate(m)
        // A peer that stops answering (a stopped process, a partition) holds the link for up to
        // the request timeout: the queue is bounded in bytes too, as entries can be large.
        if (this.#queue.length >= this.#o.queueLimit || (this.#queue.length > 0 && this.#queuedBytes + size > this.#o.queueBytes)) {
          this.#drop(1)
        } else {
          this.#queue.push(m)
          this.#queuedBytes += size
        }
      }
    }
    // At once, with whatever waits ahead (see `canWaitForTurnEnd`).
    if (!canWaitForTurnEnd(messages)) {
      if (this.#flushImmediate) clearImmediate(this.#flushImmediate)
      this.#flush()
    } else if (!this.#flushImmediate) this.#flushImmediate = setImmediate(() => this.#flush())
  }

  /** Destroys sockets and requests, forgets the queue; nothing is delivered afterwards. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    if (this.#flushImmediate) clearImmediate(this.#flushImmediate)
    if (this.#unreachableImmediate) clearImmediate(this.#unreachableImmediate)
    this.#flushImmediate = this.#unreachableImmediate = undefined
    this.#queue = []
    this.#queuedBytes = 0
    this.#snapshot = undefined
    for (const req of this.#requests) req.destroy()
    this.#requests.clear()
    this.#agent.destroy()
    this.#snapshotAgent.destroy()
    this.#streamAgent.destroy()
  }

  /**
   * Streams a snapshot whose data comes from `chunks` (see `Transport.sendSnapshot`), after a
   * handshake if there is no session yet; one at a time: a second call while one is under way rejects.
   */
  async streamSnapshot(m: Message, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    if (this.#closed) throw new ClosedError('the transport is closed')
    if (this.#streaming) throw new UnreachableError(this.#o.id, `a streamed snapshot to node ${this.#o.id} is already under way`)
    this.#streaming = true
    try {
      const token = await this.#token()
      await this.#postStream(m, chunks, token)
    } catch (err) {
      if (!this.#closed) {
        this.#o.counters.dropped.inc(this.#label, 1)
        this.#o.log.warn(`stream:${this.#o.id}`, `${this.#o.self} → ${this.#o.id}: could not stream a snapshot: ${(err as Error)?.message ?? err}`)
      }
      throw err
    } finally {
      this.#streaming = false
    }
  }

  /** The session's token, after a handshake if there is none (one renewed in the background otherwise). */
  async #token(): Promise<string> {
    const s = this.#session
    if (s) {
      if (s.renewAt <= performance.now()) this.#startHandshake()
      return s.token
    }
    await this.#startHandshake()
    if (this.#closed) throw new ClosedError('the transport is closed')
    const now = this.#session as { token: string } | undefined
    if (!now) throw this.#handshakeError ?? new UnreachableError(this.#o.id, `no session with node ${this.#o.id}`)
    return now.token
  }

  #startHandshake(): Promise<void> {
    this.#handshakeRun ??= this.#handshake().finally(() => {
      this.#handshakeRun = undefined
    })
    return this.#handshakeRun
  }

  /** The POST of a streamed snapshot; settles with the answer, sent once the node settled. */
  #postStream(m: Message, chunks: AsyncIterable<Uint8Array>, token: string): Promise<void> {
    const { url, id } = this.#o
    const limit = this.#o.maxChunkBytes
    return new Promise<void>((resolve, reject) => {
      const req = this.#mod.request({
        agent: this.#streamAgent,
        method: 'POST',
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port,
        path: url.pathname.replace(/\/$/, '') + '/snapshot-stream',
        headers: { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked', [SESSION_HEADER]: token },
        // Reset by every byte either way: a receiver that reads slowly keeps the stream alive.
        timeout: Math.max(STREAM_IDLE_MS, this.#o.requestTimeoutMs),
      })
      this.#requests.add(req)
      let settled = false
      let ended = false
      const finish = (err?: unknown): void => {
        if (settled) return
        settled = true
        this.#requests.delete(req)
        if (err === undefined) return resolve()
        req.destroy()
        reject(err)
      }
      const broken = (why: string): Error => (this.#closed ? new ClosedError('the transport closed during the snapshot stream') : new UnreachableError(id, `the snapshot stream to node ${id} broke: ${why}`))
      req.on('timeout', () => finish(broken(`no progress for ${STREAM_IDLE_MS} ms`)))
      req.on('error', (err) => finish(broken(err.message)))
      let answered = false
      req.on('close', () => {
        if (!answered) finish(broken('the connection closed before an answer'))
      })
      req.on('response', (res) => {
        answered = true
        const body: Buffer[] = []
        let size = 0
        res.on('data', (chunk: Buffer) => {
          size += chunk.byteLength
          if (size > MAX_REPLY_BYTES) finish(new MalformedError(`node ${id} answered a snapshot stream at length`))
          else body.push(chunk)
        })
        res.on('error', (err) => finish(broken(err.message)))
        res.on('close', () => finish(broken('the answer was cut short')))
        res.on('end', () => {
          const status = res.statusCode ?? 0
          if (status >= 200 && status < 300) {
            if (!ended) return finish(new MalformedError(`node ${id} acknowledged a snapshot before its end`))
            this.#o.counters.sentMessages.inc(this.#label, 1)
            this.#backoffMs = 0
            return finish()
          }
          if (status === 401 && this.#session?.token === token) this.#session = undefined
          finish(new SnapshotRefusedError(id, `${status} ${describe({ status, body: Buffer.concat(body) })}`.trim()))
        })
      })
      const write = (bytes: Uint8Array): boolean => {
        this.#o.counters.sentBytes.inc(this.#label, bytes.byteLength)
        return req.write(bytes)
      }
      // The body: the batch, each chunk pulled once the socket took the one before, the end.
      const pump = async (): Promise<void> => {
        const source = chunks[Symbol.asyncIterator]()
        let sourceDone = false
        try {
          const batch = encodeBatch([withoutSnapshotData(m)])
          write(lengthPrefix(batch.byteLength))
          write(batch)
          for (;;) {
            const r = await source.next().catch((err: unknown) => {
              sourceDone = true
              throw err
            })
            if (settled) return
            if (r.done) {
              sourceDone = true
              break
            }
            const chunk = checkChunk(r.value, limit)
            write(lengthPrefix(chunk.byteLength))
            // NB: no empty write, which a chunked request could take for its end.
            const more = chunk.byteLength === 0 || write(chunk)
            // Backpressure, and a turn of the event loop for the heartbeats meanwhile.
            if (!more) await drained(req)
            else await new Promise<void>((resolve) => setImmediate(resolve))
            if (settled || req.destroyed) return
          }
          ended = true
          write(lengthPrefix(STREAM_END))
          req.end()
        } finally {
          if (!sourceDone) void source.return?.()?.catch(() => {})
        }
      }
      pump().catch((err: unknown) => finish(err))
    })
  }

  #flush(): void {
    this.#flushImmediate = undefined
    if (this.#closed) return
    const s = this.#session
    if ((!s || s.renewAt <= performance.now()) && !this.#handshaking) void this.#startHandshake()
    if (!s) return
    while (this.#inflight < this.#o.maxInflight && this.#queue.length > 0) void this.#post(this.#take(), s.token)
    if (this.#snapshot && !this.#snapshotInflight) {
      const m = this.#snapshot
      this.#snapshot = undefined
      void this.#postSnapshot(m, s.token)
    }
  }

  #take(): Message[] {
    let bytes = 0
    let n = 0
    while (n < this.#queue.length && n < MAX_BATCH_MESSAGES) {
      const size = estimate(this.#queue[n])
      if (n > 0 && bytes + size > this.#o.maxBatchBytes) break
      bytes += size
      n++
    }
    this.#queuedBytes = n === this.#queue.length ? 0 : Math.max(0, this.#queuedBytes - bytes)
    return this.#queue.splice(0, n)
  }

  async #post(batch: Message[], token: string): Promise<void> {
    this.#inflight++
    const body = encodeBatch(batch)
    try {
      let reply: Reply
      try {
        reply = await this.#request(this.#agent, '/messages', token, body)
      } catch (err) {
        // A kept-alive socket the server closed just as we picked it: try once on a fresh one.
        if (!(err as { reusedSocket?: boolean }).reusedSocket || (err as NodeJS.ErrnoException).code !== 'ECONNRESET') throw err
        reply = await this.#request(this.#agent, '/messages', token, body)
      }
      this.#answered(reply, batch.length, body.byteLength, token)
    } catch (err) {
      this.#failed(err, batch.length)
    } finally {
      this.#inflight--
      if (this.#queue.length > 0 || this.#snapshot) this.#kick()
    }
  }

  async #postSnapshot(m: Message, token: string): Promise<void> {
    this.#snapshotInflight = true
    const data = m.snapshot?.data ?? new Uint8Array(0)
    const batch = encodeBatch([withoutSnapshotData(m)])
    const header = snapshotHeader(batch.byteLength)
    const length = header.byteLength + batch.byteLength + data.byteLength
    const stream = async (req: http.ClientRequest): Promise<void> => {
      req.write(header)
      req.write(batch)
      for (let off = 0; off < data.byteLength; off += SNAPSHOT_CHUNK) {
        if (req.destroyed) return
        if (!req.write(data.subarray(off, off + SNAPSHOT_CHUNK))) await drained(req)
      }
      req.end()
    }
    try {
      const reply = await this.#request(this.#snapshotAgent, '/snapshot', token, stream, length)
      this.#answered(reply, 1, length, token)
    } catch (err) {
      this.#failed(err, 1)
    } finally {
      this.#snapshotInflight = false
      if (this.#queue.length > 0 || this.#snapshot) this.#kick()
    }
  }

  #answered(reply: Reply, messages: number, bytes: number, token: string): void {
    if (reply.status === 204 || reply.status === 200) {
      this.#o.counters.sentMessages.inc(this.#label, messages)
      this.#o.counters.sentBytes.inc(this.#label, bytes)
      this.#backoffMs = 0
      return
    }
    if (reply.status === 401 && this.#session?.token === token) {
      // The peer restarted, or dropped our session: handshake again at the next flush.
      this.#session = undefined
    }
    this.#o.log.warn(`refused:${this.#o.id}:${reply.status}`, `${this.#o.self} → ${this.#o.id}: batch refused with ${reply.status} ${describe(reply)}`)
    this.#drop(messages)
  }

  #failed(err: unknown, messages: number): void {
    if (this.#closed) return
    this.#o.log.warn(`unreachable:${this.#o.id}`, `${this.#o.self} → ${this.#o.id}: ${(err as Error).message}`)
    this.#backOff()
    this.#drop(messages)
  }

  async #handshake(): Promise<void> {
    this.#handshaking = true
    this.#handshakeError = undefined
    try {
      this.#session = await this.#openSession()
      this.#backoffMs = 0
      this.#retryAt = 0
    } catch (err) {
      if (this.#closed) return
      this.#session = undefined
      this.#handshakeError = err instanceof UnauthorizedError ? err : new UnreachableError(this.#o.id, `no session with node ${this.#o.id}: ${(err as Error).message}`)
      if (err instanceof UnauthorizedError) {
        this.#o.log.warn(`handshake:${this.#o.id}:${err.reason}`, `${this.#o.self} → ${this.#o.id}: ${err.message}`)
      } else {
        this.#o.log.warn(`unreachable:${this.#o.id}`, `${this.#o.self} → ${this.#o.id}: handshake failed: ${(err as Error).message}`)
      }
      this.#backOff()
      this.#drop(this.#queue.length + (this.#snapshot ? 1 : 0))
      this.#queue = []
      this.#queuedBytes = 0
      this.#snapshot = undefined
    } finally {
      this.#handshaking = false
    }
    if (!this.#closed && (this.#queue.length > 0 || this.#snapshot)) this.#kick()
  }

  /** Hello → the acceptor's nonce (and proof) → our proof → a session token. */
  async #openSession(): Promise<{ token: string; renewAt: number }> {
    const { self, id, clusterId, secret } = this.#o
    const clientNonce = newNonce()
    const hello: Hello = { v: WIRE_VERSION, cluster: clusterId, from: self, to: id, nonce: clientNonce }
    const r1 = await this.#request(this.#agent, '/handshake', undefined, packControl(hello))
    if (r1.status !== 200) throw refusal(id, r1)
    const answer = parseHandshakeReply(unpackControl(r1.body))
    let session: { token: string; ttlMs: number }
    if (secret !== undefined) {
      if (!answer.proof || !answer.challenge) {
        this.#o.counters.refused.inc({ reason: 'secret' })
        throw new UnauthorizedError('secret', `node ${id} did not prove it knows the cluster secret`)
      }
      const expected = proof(secret, 'server', clusterId, self, id, clientNonce, answer.nonce)
      if (!verifyProof(expected, answer.proof)) {
        this.#o.counters.refused.inc({ reason: 'secret' })
        throw new UnauthorizedError('secret', `node ${id} proved a different secret`)
      }
      const mine = proof(secret, 'client', clusterId, self, id, clientNonce, answer.nonce)
      const r2 = await this.#request(this.#agent, '/session', undefined, packControl({ challenge: answer.challenge, proof: mine }))
      if (r2.status !== 200) throw refusal(id, r2)
      session = parseSessionReply(unpackControl(r2.body))
    } else {
      if (answer.token === undefined || answer.ttlMs === undefined) {
        throw new UnauthorizedError('secret', `node ${id} asks for a secret, and this node has none`)
      }
      session = { token: answer.token, ttlMs: answer.ttlMs }
    }
    // Renewed at half its life, while the old token still works, so no batch meets an expired one.
    return { token: session.token, renewAt: performance.now() + session.ttlMs / 2 }
  }

  #request(agent: http.Agent, route: string, token: string | undefined, body: Body, length?: number): Promise<Reply> {
    const { url, requestTimeoutMs } = this.#o
    return new Promise<Reply>((resolve, reject) => {
      const headers: Record<string, string | number> = {
        'content-type': 'application/octet-stream',
        'content-length': body instanceof Uint8Array ? body.byteLength : (length as number),
      }
      if (token !== undefined) headers[SESSION_HEADER] = token
      const req = this.#mod.request({
        agent,
        method: 'POST',
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port,
        path: url.pathname.replace(/\/$/, '') + route,
        headers,
        timeout: requestTimeoutMs,
      })
      this.#requests.add(req)
      let settled = false
      const done = (err: Error | undefined, reply?: Reply): void => {
        if (settled) return
        settled = true
        this.#requests.delete(req)
        if (err) reject(Object.assign(err, { reusedSocket: req.reusedSocket }))
        else resolve(reply as Reply)
      }
      let answered = false
      req.on('timeout', () => req.destroy(new Error(`no answer within ${requestTimeoutMs} ms`)))
      req.on('error', (err) => done(err))
      req.on('close', () => {
        if (!answered) done(new Error('the connection closed before an answer'))
      })
      req.on('response', (res) => {
        answered = true
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (chunk: Buffer) => {
          size += chunk.byteLength
          if (size > MAX_REPLY_BYTES) req.destroy(new Error('the answer is too large'))
          else chunks.push(chunk)
        })
        res.on('end', () => done(undefined, { status: res.statusCode ?? 0, body: Buffer.concat(chunks) }))
        res.on('error', (err) => done(err))
        res.on('close', () => done(new Error('the answer was cut short')))
      })
      if (body instanceof Uint8Array) req.end(body)
      else body(req).catch((err: Error) => req.destroy(err))
    })
  }

  #drop(messages: number): void {
    if (messages <= 0) return
    this.#o.counters.dropped.inc(this.#label, messages)
    if (this.#closed || this.#unreachableImmediate) return
    this.#unreachableImmediate = setImmediate(() => {
      this.#unreachableImmediate = undefined
      if (!this.#closed) this.#o.unreachable(this.#o.id)
    })
  }

  #backOff(): void {
    this.#backoffMs = Math.min(MAX_BACKOFF_MS, Math.max(MIN_BACKOFF_MS, this.#backoffMs * 2))
    this.#retryAt = performance.now() + this.#backoffMs
  }

  #kick(): void {
    if (!this.#closed && !this.#flushImmediate) this.#flushImmediate = setImmediate(() => this.#flush())
  }
}

function describe(reply: Reply): string {
  try {
    const v = JSON.parse(Buffer.from(reply.body).toString('utf8')) as { message?: unknown }
    return typeof v.message === 'string' ? `(${v.message.slice(0, 200)})` : ''
  } catch {
    return ''
  }
}

/** The error for a handshake the acceptor refused. */
function refusal(id: NodeId, reply: Reply): Error {
  let reason: UnauthorizedError['reason'] = 'protocol'
  try {
    const v = JSON.parse(Buffer.from(reply.body).toString('utf8')) as { reason?: unknown }
    if (v.reason === 'cluster' || v.reason === 'node' || v.reason === 'secret' || v.reason === 'protocol') reason = v.reason
  } catch {
    // Not our JSON: a proxy or another service answered.
  }
  if (reply.status === 401 || reply.status === 403) return new UnauthorizedError(reason, `node ${id} refused the handshake: ${reply.status} ${describe(reply)}`)
  return new Error(`node ${id} answered the handshake with ${reply.status} ${describe(reply)}`)
}
