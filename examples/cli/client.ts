/**
 * The HTTP client of the CLI: requests to the first endpoint that answers, in order, as etcdctl
 * does. An endpoint that refuses the connection, cannot be reached within the dial timeout, or
 * answers 503 (no leader, shutting down, removed) is skipped. A write whose outcome is unknown
 * (the endpoint answered 503 `TIMEOUT`, or the connection broke after the request was sent) is
 * not sent again elsewhere: the error is reported, as a retry could apply it twice.
 *
 * @module
 */
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http'
import { request as httpsRequest } from 'node:https'

/** An error answered by the server: `{ code, message, ...extras }` with its HTTP status. */
export class ApiError extends Error {
  readonly code: string
  readonly status: number
  /** The endpoint that answered. */
  readonly endpoint: string
  /** The other fields of the error body (`compactRevision`, `leader`, ...). */
  readonly details: Readonly<Record<string, unknown>>
  constructor(endpoint: string, status: number, code: string, message: string, details: Record<string, unknown> = {}) {
    super(message)
    this.name = 'ApiError'
    this.endpoint = endpoint
    this.status = status
    this.code = code
    this.details = details
  }
}

/** No endpoint answered; `failures` says why for each one tried. */
export class UnreachableError extends Error {
  readonly code = 'UNREACHABLE'
  readonly failures: ReadonlyArray<{ readonly endpoint: string; readonly reason: string }>
  constructor(failures: ReadonlyArray<{ endpoint: string; reason: string }>) {
    super(`no endpoint answered: ${failures.map((f) => `${f.endpoint} (${f.reason})`).join(', ')}`)
    this.name = 'UnreachableError'
    this.failures = failures
  }
}

/** The request was sent but no answer came in time, or the connection broke: outcome unknown. */
export class OutcomeUnknownError extends Error {
  readonly code = 'TIMEOUT'
  constructor(endpoint: string, reason: string) {
    super(`${endpoint}: ${reason}; the request may or may not have been applied`)
    this.name = 'OutcomeUnknownError'
  }
}

/** Options of a {@link Client}. */
export interface ClientOptions {
  /** Base URLs, tried in order (`http://127.0.0.1:12380`). */
  readonly endpoints: readonly string[]
  /** Bound on one attempt at one endpoint (connecting, sending, the whole answer), in ms. */
  readonly timeoutMs: number
  /** Bound on establishing one connection, in ms. */
  readonly dialTimeoutMs: number
}

/** One request. */
export interface RequestOptions {
  readonly method: 'GET' | 'PUT' | 'POST' | 'DELETE'
  /** Path and query, starting with `/`. */
  readonly path: string
  /** A JSON body (sent as `application/json`), or raw text with {@link contentType}. */
  readonly json?: unknown
  readonly text?: string
  readonly contentType?: string
  readonly headers?: Readonly<Record<string, string>>
  /** Safe to send again to another endpoint after an unknown outcome. Default: true for GET. */
  readonly idempotent?: boolean
  readonly signal?: AbortSignal
}

/** A response whose body is still to be read (watch, snapshot). */
export interface OpenStream {
  readonly endpoint: string
  readonly response: IncomingMessage
}

/** Why an attempt failed, and whether the next endpoint may be tried. */
class AttemptError extends Error {
  constructor(
    readonly reason: string,
    /** The endpoint did not take the request (refused, unreachable, 503 without side effects). */
    readonly notTaken: boolean,
    readonly failure?: Error,
  ) {
    super(reason)
  }
}

const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL'])

/** Percent-encodes a key for a path (every `/` too, so that no key can change the route). */
export function keyPath(key: string): string {
  return encodeURIComponent(key)
}

/** Builds `?a=1&b=2` from the defined, non-false entries (or '' when there are none). */
export function query(params: Readonly<Record<string, string | number | boolean | undefined>>): string {
  const search = new URLSearchParams()
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || value === false) continue
    search.set(name, String(value))
  }
  const text = search.toString()
  return text === '' ? '' : `?${text}`
}

/** Checks and normalizes the endpoint list (`--endpoints`). Throws a `TypeError` on a bad URL. */
export function parseEndpoints(raw: string): string[] {
  const out: string[] = []
  for (const part of raw.split(',')) {
    const text = part.trim()
    if (text === '') continue
    const withScheme = /^[a-z]+:\/\//i.test(text) ? text : `http://${text}`
    let url: URL
    try {
      url = new URL(withScheme)
    } catch {
      throw new TypeError(`not an endpoint URL: '${text}'`)
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`endpoint '${text}' is not http(s)`)
    out.push(`${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`)
  }
  if (out.length === 0) throw new TypeError('no endpoint given')
  return out
}

/**
 * Talks to a metastore server's HTTP API through a list of endpoints. Keeps using the endpoint
 * that last answered (so a shell session sticks to one), and goes back to the list on failure.
 */
export class Client {
  readonly endpoints: readonly string[]
  readonly #timeoutMs: number
  readonly #dialTimeoutMs: number
  #preferred = 0

  constructor(options: ClientOptions) {
    if (options.endpoints.length === 0) throw new TypeError('a client needs at least one endpoint')
    this.endpoints = options.endpoints
    this.#timeoutMs = options.timeoutMs
    this.#dialTimeoutMs = options.dialTimeoutMs
  }

  /** Sends a request and decodes the JSON answer (undefined for 204). Throws {@link ApiError} on an error answer. */
  async call<T>(options: RequestOptions): Promise<T> {
    return this.#failover(options, async (endpoint) => {
      const { response, body } = await this.#exchange(endpoint, options, Date.now() + this.#timeoutMs)
      return decodeAnswer<T>(endpoint, response, body)
    })
  }

  /** Like {@link call}, but at one endpoint only (status of each endpoint). */
  async callAt<T>(endpoint: string, options: RequestOptions): Promise<T> {
    const deadline = Date.now() + this.#timeoutMs
    try {
      const { response, body } = await this.#exchange(endpoint, options, deadline)
      return decodeAnswer<T>(endpoint, response, body)
    } catch (err) {
      if (err instanceof AttemptError) throw err.failure ?? new UnreachableError([{ endpoint, reason: err.reason }])
      throw err
    }
  }

  /**
   * Opens a streamed response (watch, snapshot) at the first endpoint that answers 2xx. The
   * caller reads `response` and must destroy it when done. Only the wait for the headers is bounded.
   */
  async open(options: RequestOptions): Promise<OpenStream> {
    return this.#failover(options, async (endpoint) => {
      const response = await this.#send(endpoint, options, Date.now() + this.#timeoutMs, true)
      const status = response.statusCode ?? 0
      if (status >= 200 && status < 300) return { endpoint, response }
      const body = await readBody(response)
      decodeAnswer(endpoint, response, body)
      throw new ApiError(endpoint, status, 'UNEXPECTED', `unexpected status ${status}`)
    })
  }

  async #failover<T>(options: RequestOptions, attempt: (endpoint: string) => Promise<T>): Promise<T> {
    const idempotent = options.idempotent ?? options.method === 'GET'
    const failures: Array<{ endpoint: string; reason: string }> = []
    const n = this.endpoints.length
    for (let k = 0; k < n; k++) {
      const index = (this.#preferred + k) % n
      const endpoint = this.endpoints[index]
      try {
        const result = await attempt(endpoint)
        this.#preferred = index
        return result
      } catch (err) {
        if (options.signal?.aborted) throw err instanceof AttemptError ? (err.failure ?? err) : err
        if (err instanceof ApiError) {
          // 503: this member cannot serve now (no leader, removed, closing). A write that timed
          // out there may still be applied: not sent again.
          if (err.status !== 503 || (err.code === 'TIMEOUT' && !idempotent)) throw err
          failures.push({ endpoint, reason: `${err.code}: ${err.message}` })
          continue
        }
        if (!(err instanceof AttemptError)) throw err
        if (!err.notTaken && !idempotent) throw err.failure ?? new OutcomeUnknownError(endpoint, err.reason)
        failures.push({ endpoint, reason: err.reason })
      }
    }
    throw new UnreachableError(failures)
  }

  async #exchange(endpoint: string, options: RequestOptions, deadline: number): Promise<{ response: IncomingMessage; body: Buffer }> {
    const response = await this.#send(endpoint, options, deadline, false)
    try {
      return { response, body: await readBody(response) }
    } catch (err) {
      throw new AttemptError(`the answer broke off: ${(err as Error).message}`, false)
    }
  }

  /** Sends the request; resolves with the response once its headers arrive. */
  #send(endpoint: string, options: RequestOptions, deadline: number, streaming: boolean): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const url = new URL(endpoint)
      const headers: OutgoingHttpHeaders = { accept: 'application/json', ...options.headers }
      let payload: Buffer | undefined
      if (options.json !== undefined) {
        payload = Buffer.from(JSON.stringify(options.json))
        headers['content-type'] = 'application/json'
      } else if (options.text !== undefined) {
        payload = Buffer.from(options.text, 'utf8')
        headers['content-type'] = options.contentType ?? 'text/plain; charset=utf-8'
      }
      if (payload !== undefined) headers['content-length'] = payload.length
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest
      const req = send({
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port,
        method: options.method,
        path: `${url.pathname.replace(/\/+$/, '')}${options.path}`,
        headers,
        agent: false,
      })
      let connected = false
      let settled = false
      const timers: NodeJS.Timeout[] = []
      const finish = (err: AttemptError | undefined, response?: IncomingMessage): void => {
        if (settled) return
        settled = true
        for (const t of timers) clearTimeout(t)
        options.signal?.removeEventListener('abort', onAbort)
        if (err !== undefined) {
          req.destroy()
          reject(err)
        } else {
          resolve(response!)
        }
      }
      const onAbort = (): void => {
        const reason = options.signal?.reason
        finish(new AttemptError('aborted', false, reason instanceof Error ? reason : new Error('aborted')))
      }
      if (options.signal?.aborted) return onAbort()
      options.signal?.addEventListener('abort', onAbort, { once: true })
      const remaining = Math.max(1, deadline - Date.now())
      timers.push(
        setTimeout(() => {
          if (!connected) finish(new AttemptError(`no connection within ${Math.min(this.#dialTimeoutMs, remaining)} ms`, true))
        }, Math.min(this.#dialTimeoutMs, remaining)),
      )
      timers.push(setTimeout(() => finish(new AttemptError(`no answer within ${this.#timeoutMs} ms`, !connected)), remaining))
      req.on('socket', (socket) => {
        const onConnect = (): void => {
          connected = true
        }
        if (!socket.connecting) onConnect()
        else socket.once('connect', onConnect)
      })
      req.on('error', (err: NodeJS.ErrnoException) => {
        const notTaken = !connected || (err.code !== undefined && CONNECT_ERRORS.has(err.code))
        finish(new AttemptError(err.code ?? err.message, notTaken))
      })
      req.on('response', (response) => {
        if (!streaming) {
          // The body is read under the same deadline.
          const stop = setTimeout(() => response.destroy(new Error(`no complete answer within ${this.#timeoutMs} ms`)), Math.max(1, deadline - Date.now()))
          response.once('close', () => clearTimeout(stop))
        }
        finish(undefined, response)
      })
      req.end(payload)
    })
  }
}

/** Reads a whole response body. */
export async function readBody(response: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of response) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** Turns a complete answer into its JSON value, or throws the {@link ApiError} it carries. */
function decodeAnswer<T>(endpoint: string, response: IncomingMessage, body: Buffer): T {
  const status = response.statusCode ?? 0
  const type = String(response.headers['content-type'] ?? '')
  const text = body.toString('utf8')
  let json: unknown
  if (text !== '' && (type.includes('json') || /^\s*[{[]/.test(text))) {
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
  }
  if (status >= 200 && status < 300) {
    if (status === 204 || text === '') return undefined as T
    if (json === undefined) return text as T
    return json as T
  }
  if (typeof json === 'object' && json !== null && typeof (json as { code?: unknown }).code === 'string') {
    const { code, message, ...details } = json as { code: string; message?: unknown }
    throw new ApiError(endpoint, status, code, typeof message === 'string' ? message : `${code} (HTTP ${status})`, details)
  }
  const code = status === 503 ? 'UNAVAILABLE' : status === 404 ? 'NOT_FOUND' : `HTTP_${status}`
  const details = typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>) : {}
  throw new ApiError(endpoint, status, code, text.trim() === '' ? `HTTP ${status}` : `HTTP ${status}: ${text.trim().slice(0, 200)}`, details)
}
