/**
 * The plumbing of the client API: JSON answers, bounded request bodies, query parameters, and
 * the mapping from metastore's error codes to HTTP statuses. Every error answer is
 * `{ "code": "<STABLE_CODE>", "message": "...", ...extras }`.
 */
import { isUtf8 } from 'node:buffer'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { MetastoreError } from '../../lib/errors.js'

/** An answer that is an error: an HTTP status, a stable code, and extra fields for the caller. */
export class HttpError extends Error {
  readonly status: number
  readonly code: string
  readonly extras: Readonly<Record<string, unknown>>
  constructor(status: number, code: string, message: string, extras: Readonly<Record<string, unknown>> = {}) {
    super(message)
    this.name = 'HttpError'
    this.status = status
    this.code = code
    this.extras = extras
  }
}

/** A bad parameter or body: 400 INVALID. */
export function invalid(message: string): HttpError {
  return new HttpError(400, 'INVALID', message)
}

export function notFound(message = 'no such route'): HttpError {
  return new HttpError(404, 'NOT_FOUND', message)
}

const STATUS: Readonly<Record<string, number>> = {
  TOO_LARGE: 413,
  COMPACTED: 410,
  FUTURE_REVISION: 400,
  LEASE_NOT_FOUND: 404,
  KEY_NOT_FOUND: 404,
  LEASE_EXISTS: 409,
  INVALID_CONF_CHANGE: 409,
  TIMEOUT: 503,
  CLOSED: 503,
  REMOVED: 503,
  WATCH_OVERFLOW: 503,
}

/** Codes that mean "no majority (or leader) to serve this now": all answered 503 UNAVAILABLE. */
const UNAVAILABLE = new Set(['NOT_LEADER', 'PROPOSAL_DROPPED', 'UNREACHABLE', 'STORAGE_UNAVAILABLE'])

/** The extra fields an error carries for the caller (the compact revision of COMPACTED, ...). */
function extrasOf(err: MetastoreError): Record<string, unknown> {
  const extras: Record<string, unknown> = {}
  for (const name of ['compactRevision', 'resumeRevision', 'currentRevision', 'leaseId', 'limit', 'size', 'leaderId'] as const) {
    const v = (err as unknown as Record<string, unknown>)[name]
    if (typeof v === 'number') extras[name] = v
  }
  return extras
}

/** Turns anything a handler threw into an {@link HttpError}. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err
  if (err instanceof MetastoreError) {
    if (UNAVAILABLE.has(err.code)) return new HttpError(503, 'UNAVAILABLE', err.message, extrasOf(err))
    return new HttpError(STATUS[err.code] ?? 500, err.code, err.message, extrasOf(err))
  }
  // An AbortSignal.timeout() that fired: the request waited its bound (no majority, most likely).
  if (err instanceof DOMException && err.name === 'TimeoutError') {
    return new HttpError(503, 'TIMEOUT', 'the request did not complete in time (is a majority of the cluster up?); its outcome is unknown')
  }
  // Argument mistakes the node refuses (an empty key, a bad id) are the caller's.
  if (err instanceof TypeError) return invalid(err.message)
  return new HttpError(500, 'INTERNAL', err instanceof Error ? err.message : String(err))
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

export function sendError(res: ServerResponse, err: HttpError): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  sendJson(res, err.status, { code: err.code, message: err.message, ...err.extras })
}

export function sendText(res: ServerResponse, status: number, text: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

export function sendEmpty(res: ServerResponse, status = 204): void {
  res.writeHead(status)
  res.end()
}

/**
 * Reads the whole body, refusing one over `limit` bytes with 413 (as soon as it is known: from
 * Content-Length, else while reading). Bytes that are not UTF-8 are refused with 400.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = req.headers['content-length']
  if (declared !== undefined && Number(declared) > limit) {
    req.resume()
    throw new HttpError(413, 'TOO_LARGE', `the request body is ${declared} bytes, over the limit of ${limit}`, { limit, size: Number(declared) })
  }
  // Events rather than an async iterator: this is on the path of every write.
  const body = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const done = (err?: Error): void => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
      req.off('close', onClose)
      if (err) reject(err)
      else resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size))
    }
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size > limit) {
        done(new HttpError(413, 'TOO_LARGE', `the request body is over the limit of ${limit} bytes`, { limit }))
        req.resume()
        return
      }
      chunks.push(chunk)
    }
    const onEnd = (): void => done()
    const onError = (err: Error): void => done(err)
    const onClose = (): void => {
      if (!req.complete) done(new Error('the request was cut before the end of its body'))
    }
    if (req.destroyed || req.readableEnded) {
      reject(new Error('the request body is gone (the request was cut, or its body read already)'))
      return
    }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
    req.on('close', onClose)
  })
  if (!isUtf8(body)) throw invalid('the request body is not UTF-8')
  return body.toString('utf8')
}

/** Reads a JSON object body (an empty body is `{}`). */
export async function readJsonObject(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const text = await readBody(req, limit)
  if (text.trim() === '') return {}
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw invalid(`the body is not JSON: ${(err as Error).message}`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid('the body must be a JSON object')
  return value as Record<string, unknown>
}

/** Typed access to query parameters; each refuses a malformed value with 400. */
export class Query {
  readonly #params: URLSearchParams
  readonly #known: Set<string>
  constructor(params: URLSearchParams, known: readonly string[]) {
    this.#params = params
    this.#known = new Set(known)
    for (const name of params.keys()) if (!this.#known.has(name)) throw invalid(`unknown query parameter ${JSON.stringify(name)}`)
  }

  string(name: string): string | undefined {
    return this.#params.get(name) ?? undefined
  }

  bool(name: string): boolean {
    const v = this.#params.get(name)
    if (v === null || v === 'false' || v === '0') return false
    if (v === '' || v === 'true' || v === '1') return true
    throw invalid(`${name} must be true or false`)
  }

  /** A non-negative safe integer, or undefined when absent. */
  int(name: string, min = 0): number | undefined {
    const v = this.#params.get(name)
    if (v === null) return undefined
    return intValue(v, name, min)
  }

  oneOf<T extends string>(name: string, values: readonly T[]): T | undefined {
    const v = this.#params.get(name)
    if (v === null) return undefined
    if (!(values as readonly string[]).includes(v)) throw invalid(`${name} must be one of ${values.join(', ')}`)
    return v as T
  }
}

/** Parses a decimal integer of at least `min`, or refuses it with 400. */
export function intValue(raw: string, name: string, min = 0): number {
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(n) || n < min) throw invalid(`${name} must be an integer >= ${min}`)
  return n
}

/** A JSON field that must be a safe integer of at least `min`. */
export function intField(body: Record<string, unknown>, name: string, min = 0): number {
  const v = body[name]
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw invalid(`${name} must be an integer >= ${min}`)
  return v
}

/** Decodes a path segment, refusing bad percent-encoding with 400. */
export function decodePath(raw: string): string {
  try {
    return decodeURIComponent(raw)
  } catch {
    throw invalid('the path is not valid percent-encoding')
  }
}
