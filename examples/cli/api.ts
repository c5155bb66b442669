/**
 * The server's JSON API (`/v1/...`) as typed calls over a {@link Client}.
 *
 * @module
 */
import { ApiError, keyPath, query, type Client, type RequestOptions } from './client.js'

/** A key with its value and MVCC metadata, as the server answers it. */
export interface KV {
  readonly key: string
  /** The stored value: a string (put as text) or any JSON value (put as JSON). */
  readonly value?: unknown
  readonly createRevision: number
  readonly modRevision: number
  readonly version: number
  readonly lease: number
}

export interface RangeAnswer {
  readonly kvs: KV[]
  readonly count: number
  readonly more: boolean
  readonly revision: number
}

export interface PutAnswer {
  readonly revision: number
  readonly prevKv?: KV
}

export interface DeleteAnswer {
  readonly revision: number
  readonly deleted: number
  readonly prevKvs?: KV[]
}

/** Which keys a read or a delete covers. */
export interface KeyRange {
  readonly key: string
  readonly prefix?: boolean
  readonly end?: string
  readonly fromKey?: boolean
}

export interface RangeRequest extends KeyRange {
  readonly revision?: number
  readonly serializable?: boolean
  readonly limit?: number
  readonly keysOnly?: boolean
  readonly countOnly?: boolean
  readonly sort?: string
  readonly order?: 'ascend' | 'descend'
}

export type CompareTarget = 'value' | 'version' | 'createRevision' | 'modRevision' | 'lease'
export type CompareOp = '=' | '!=' | '<' | '>'

export interface TxnCompare {
  readonly key: string
  readonly target: CompareTarget
  readonly op: CompareOp
  readonly value: unknown
}

export type TxnOp =
  | { readonly put: { readonly key: string; readonly value: unknown; readonly lease?: number; readonly prevKv?: boolean } }
  | { readonly delete: { readonly key: string; readonly prefix?: boolean; readonly end?: string; readonly prevKv?: boolean } }
  | {
      readonly get: {
        readonly key: string
        readonly prefix?: boolean
        readonly end?: string
        readonly limit?: number
        readonly keysOnly?: boolean
        readonly countOnly?: boolean
      }
    }

export interface TxnRequest {
  readonly compare: TxnCompare[]
  readonly success: TxnOp[]
  readonly failure: TxnOp[]
}

export type TxnResponse = { readonly put: PutAnswer } | { readonly delete: DeleteAnswer } | { readonly get: RangeAnswer }

export interface TxnAnswer {
  readonly succeeded: boolean
  readonly revision: number
  readonly responses: TxnResponse[]
}

export interface LeaseTtl {
  readonly id: number
  readonly ttl: number
  readonly remainingMs: number
  readonly keys: string[]
}

export interface Member {
  readonly id: number
  readonly role: 'voter' | 'learner'
  readonly address?: string
}

export interface Status {
  readonly id: number
  readonly role: string
  readonly term: number
  readonly leader: number
  readonly commitIndex: number
  readonly appliedIndex: number
  readonly revision: number
  readonly compactRevision: number
  readonly members?: Member[]
  readonly progress?: Readonly<Record<string, { readonly match: number; readonly next: number; readonly state: string }>>
}

export interface Health {
  readonly health: boolean
  readonly leader?: number
  readonly reason?: string
}

function rangeQuery(r: KeyRange): Record<string, string | boolean | undefined> {
  return { prefix: r.prefix, end: r.end, fromKey: r.fromKey }
}

/** Typed calls of the JSON API. Every call may throw `ApiError`, `UnreachableError` or `OutcomeUnknownError`. */
export class Api {
  constructor(readonly client: Client) {}

  /** A call whose answer must be a JSON object (an empty answer means the route is not the JSON API's). */
  async #json<T>(options: RequestOptions): Promise<T> {
    const answer = await this.client.call<unknown>(options)
    if (typeof answer !== 'object' || answer === null) {
      throw new Error(`${options.method} ${options.path.split('?')[0]}: expected a JSON answer, got ${answer === undefined ? 'none' : JSON.stringify(answer).slice(0, 80)} (is the endpoint a metastore server?)`)
    }
    return answer as T
  }

  /** One key, or undefined when it does not exist. */
  async get(key: string, options: { revision?: number; serializable?: boolean } = {}): Promise<KV | undefined> {
    try {
      const answer = await this.#json<{ kv: KV }>({
        method: 'GET',
        path: `/v1/kv/${keyPath(key)}${query({ revision: options.revision, serializable: options.serializable })}`,
      })
      return answer.kv
    } catch (err) {
      if (err instanceof ApiError && err.status === 404 && err.code === 'KEY_NOT_FOUND') return undefined
      throw err
    }
  }

  /** A prefix or a range of keys. */
  range(r: RangeRequest): Promise<RangeAnswer> {
    const params: Record<string, string | number | boolean | undefined> = {
      ...rangeQuery(r),
      revision: r.revision,
      serializable: r.serializable,
      limit: r.limit,
      keysOnly: r.keysOnly,
      countOnly: r.countOnly,
      sort: r.sort,
      order: r.order,
    }
    // The server needs one of prefix / end / fromKey to answer a list.
    if (r.prefix !== true && r.end === undefined && r.fromKey !== true) params.prefix = true
    return this.#json<RangeAnswer>({ method: 'GET', path: `/v1/kv/${keyPath(r.key)}${query(params)}` })
  }

  /** Puts a value: text as a string, or `{ json }` as a JSON value. */
  put(key: string, value: { text: string } | { json: unknown }, options: { lease?: number; prevKv?: boolean } = {}): Promise<PutAnswer> {
    return this.#json<PutAnswer>({
      method: 'PUT',
      path: `/v1/kv/${keyPath(key)}${query({ lease: options.lease, prevKv: options.prevKv })}`,
      ...('text' in value ? { text: value.text } : { json: value.json }),
    })
  }

  delete(r: KeyRange & { prevKv?: boolean }): Promise<DeleteAnswer> {
    return this.#json<DeleteAnswer>({
      method: 'DELETE',
      path: `/v1/kv/${keyPath(r.key)}${query({ ...rangeQuery(r), prevKv: r.prevKv })}`,
    })
  }

  txn(request: TxnRequest): Promise<TxnAnswer> {
    return this.#json<TxnAnswer>({ method: 'POST', path: '/v1/txn', json: request })
  }

  compact(revision: number): Promise<{ compactRevision: number }> {
    return this.#json({ method: 'POST', path: '/v1/compact', json: { revision }, idempotent: true })
  }

  leaseGrant(ttl: number): Promise<{ id: number; ttl: number }> {
    return this.#json({ method: 'POST', path: '/v1/lease/grant', json: { ttl } })
  }

  leaseRevoke(id: number): Promise<{ revision: number; deleted: number }> {
    return this.#json({ method: 'POST', path: '/v1/lease/revoke', json: { id }, idempotent: true })
  }

  leaseKeepAlive(id: number, signal?: AbortSignal): Promise<{ id: number; ttl: number }> {
    return this.#json({ method: 'POST', path: '/v1/lease/keepalive', json: { id }, idempotent: true, signal })
  }

  /** A lease's TTL, remaining time and keys, or undefined when it does not exist. */
  async leaseTtl(id: number): Promise<LeaseTtl | undefined> {
    try {
      return await this.#json<LeaseTtl>({ method: 'GET', path: `/v1/lease/${id}` })
    } catch (err) {
      if (err instanceof ApiError && err.status === 404 && err.code === 'LEASE_NOT_FOUND') return undefined
      throw err
    }
  }

  async leases(): Promise<number[]> {
    return (await this.#json<{ leases: number[] }>({ method: 'GET', path: '/v1/leases' })).leases
  }

  async members(): Promise<Member[]> {
    return (await this.#json<{ members: Member[] }>({ method: 'GET', path: '/v1/members' })).members
  }

  async addMember(id: number, address: string, learner: boolean): Promise<Member[]> {
    return (await this.#json<{ members: Member[] }>({ method: 'POST', path: '/v1/members', json: { id, address, learner } })).members
  }

  async promote(id: number): Promise<Member[]> {
    return (await this.#json<{ members: Member[] }>({ method: 'POST', path: `/v1/members/${id}/promote`, idempotent: true })).members
  }

  async removeMember(id: number): Promise<Member[]> {
    return (await this.#json<{ members: Member[] }>({ method: 'DELETE', path: `/v1/members/${id}`, idempotent: true })).members
  }

  transferLeader(id: number): Promise<{ leader: number }> {
    return this.#json({ method: 'POST', path: '/v1/leader', json: { id }, idempotent: true })
  }

  /** The status of one endpoint (no failover: each member speaks for itself). */
  status(endpoint: string): Promise<Status> {
    return this.client.callAt<Status>(endpoint, { method: 'GET', path: '/v1/status' })
  }

  /** The health of one endpoint; a 503 answer is a health report too, not an error. */
  async health(endpoint: string): Promise<Health> {
    try {
      return await this.client.callAt<Health>(endpoint, { method: 'GET', path: '/health' })
    } catch (err) {
      if (err instanceof ApiError && err.status === 503) {
        return { health: false, reason: typeof err.details.reason === 'string' ? err.details.reason : err.message }
      }
      throw err
    }
  }
}
