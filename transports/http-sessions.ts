import { randomBytes } from 'node:crypto'
import type { NodeId } from '../lib/raft/types.js'

/** A handshake the acceptor has answered and waits to see proved (with a secret). */
export interface Challenge {
  readonly from: NodeId
  readonly clientNonce: Uint8Array
  readonly serverNonce: Uint8Array
  readonly expiresAt: number
}

interface Session {
  readonly from: NodeId
  readonly expiresAt: number
}

/** Limits of a {@link SessionTable}. */
export interface SessionLimits {
  /** How long a session token is accepted after it was issued. */
  readonly sessionTtlMs: number
  /** How long a challenge waits for the dialer's proof. */
  readonly challengeTtlMs: number
  /** Sessions kept per peer; issuing one more forgets the oldest. */
  readonly sessionsPerPeer: number
  /** Challenges kept at once (from all peers); one more forgets the oldest. */
  readonly maxChallenges: number
}

function token(): string {
  return randomBytes(24).toString('base64url')
}

/**
 * The acceptor's side of HTTP sessions: challenges waiting for a proof, and the tokens that
 * batches carry. Everything is bounded, so that a peer that handshakes in a loop costs a few
 * entries, not memory without end. A token is bound to the peer it was issued to: this node is
 * the `to`, and tokens are never shared across clusters because the table lives in one transport.
 */
export class SessionTable {
  readonly #limits: SessionLimits
  readonly #challenges = new Map<string, Challenge>()
  readonly #sessions = new Map<string, Session>()
  readonly #byPeer = new Map<NodeId, string[]>()
  readonly #now: () => number

  constructor(limits: SessionLimits, now: () => number = () => performance.now()) {
    this.#limits = limits
    this.#now = now
  }

  /** Remembers a challenge; returns its id. */
  challenge(from: NodeId, clientNonce: Uint8Array, serverNonce: Uint8Array): string {
    const id = token()
    this.#challenges.set(id, { from, clientNonce, serverNonce, expiresAt: this.#now() + this.#limits.challengeTtlMs })
    while (this.#challenges.size > this.#limits.maxChallenges) {
      this.#challenges.delete(this.#challenges.keys().next().value as string)
    }
    return id
  }

  /** Takes a challenge (each can be answered once); undefined if unknown or expired. */
  takeChallenge(id: string): Challenge | undefined {
    const c = this.#challenges.get(id)
    if (!c) return undefined
    this.#challenges.delete(id)
    return c.expiresAt > this.#now() ? c : undefined
  }

  /** Issues a session token for `from`. */
  issue(from: NodeId): { token: string; ttlMs: number } {
    const t = token()
    this.#sessions.set(t, { from, expiresAt: this.#now() + this.#limits.sessionTtlMs })
    let list = this.#byPeer.get(from)
    if (!list) this.#byPeer.set(from, (list = []))
    list.push(t)
    while (list.length > this.#limits.sessionsPerPeer) this.#sessions.delete(list.shift() as string)
    return { token: t, ttlMs: this.#limits.sessionTtlMs }
  }

  /** The peer a token was issued to, if it is still valid. */
  lookup(t: string): NodeId | undefined {
    const s = this.#sessions.get(t)
    if (!s) return undefined
    if (s.expiresAt <= this.#now()) {
      this.#forget(t, s.from)
      return undefined
    }
    return s.from
  }

  /** Drops every session and challenge of a peer (it was removed). */
  dropPeer(id: NodeId): void {
    for (const t of this.#byPeer.get(id) ?? []) this.#sessions.delete(t)
    this.#byPeer.delete(id)
    for (const [k, c] of this.#challenges) if (c.from === id) this.#challenges.delete(k)
  }

  clear(): void {
    this.#challenges.clear()
    this.#sessions.clear()
    this.#byPeer.clear()
  }

  /** Sessions currently held (for tests and metrics). */
  get size(): number {
    return this.#sessions.size
  }

  #forget(t: string, from: NodeId): void {
    this.#sessions.delete(t)
    const list = this.#byPeer.get(from)
    if (!list) return
    const i = list.indexOf(t)
    if (i >= 0) list.splice(i, 1)
    if (list.length === 0) this.#byPeer.delete(from)
  }
}
