/**
 * Every error metastore raises on purpose is a {@link MetastoreError} with a stable `code`.
 * Codes never change between major versions; messages may. Argument mistakes are plain
 * `TypeError`s without a code.
 *
 * @module
 */

/** The stable codes. */
export type ErrorCode =
  | 'NOT_LEADER'
  | 'TIMEOUT'
  | 'COMPACTED'
  | 'CLOSED'
  | 'TOO_LARGE'
  | 'PROPOSAL_DROPPED'
  | 'CORRUPT_LOG'
  | 'LOCKED'
  | 'STORAGE_UNAVAILABLE'
  | 'INVALID_CONF_CHANGE'
  | 'FUTURE_REVISION'
  | 'LEASE_NOT_FOUND'
  | 'LEASE_EXISTS'
  | 'KEY_NOT_FOUND'
  | 'STALE_SEQUENCE'
  | 'INVALID_COMMAND'
  | 'INVALID_SNAPSHOT'
  | 'WATCH_OVERFLOW'
  | 'MALFORMED'
  | 'UNAUTHORIZED'
  | 'REMOVED'
  | 'UNREACHABLE'

export class MetastoreError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'MetastoreError'
    this.code = code
  }
}

/** This node is not the leader; `leaderId` is the leader it knows of, or 0. Retry there. */
export class NotLeaderError extends MetastoreError {
  readonly leaderId: number
  constructor(leaderId: number, message?: string) {
    super('NOT_LEADER', message ?? (leaderId ? `not the leader; the leader is node ${leaderId}` : 'not the leader; no leader is known'))
    this.name = 'NotLeaderError'
    this.leaderId = leaderId
  }
}

/** The proposal was not accepted (no leader, too many uncommitted entries, a transfer under way). Retryable. */
export class ProposalDroppedError extends MetastoreError {
  constructor(message = 'proposal dropped') {
    super('PROPOSAL_DROPPED', message)
    this.name = 'ProposalDroppedError'
  }
}

/** The operation waited too long; its outcome is unknown. */
export class TimeoutError extends MetastoreError {
  constructor(message = 'timed out; the outcome is unknown') {
    super('TIMEOUT', message)
    this.name = 'TimeoutError'
  }
}

/** The node or database is closed. */
export class ClosedError extends MetastoreError {
  constructor(message = 'closed') {
    super('CLOSED', message)
    this.name = 'ClosedError'
  }
}

/** A key, value or request is over the configured limit. */
export class TooLargeError extends MetastoreError {
  readonly limit: number
  readonly size: number
  constructor(what: string, size: number, limit: number) {
    super('TOO_LARGE', `${what} is ${size} bytes, over the limit of ${limit}`)
    this.name = 'TooLargeError'
    this.size = size
    this.limit = limit
  }
}

/** The requested revision or log index has been compacted away. */
export class CompactedError extends MetastoreError {
  readonly compactRevision: number
  constructor(compactRevision: number, message?: string) {
    super('COMPACTED', message ?? `required revision has been compacted (compact revision ${compactRevision})`)
    this.name = 'CompactedError'
    this.compactRevision = compactRevision
  }
}

/** A record of the log on disk failed its checksum or is torn and cannot be dropped safely. */
export class CorruptLogError extends MetastoreError {
  readonly location: string
  readonly index: number
  constructor(location: string, index: number, message: string) {
    super('CORRUPT_LOG', `${message} (at ${location}, log index ${index})`)
    this.name = 'CorruptLogError'
    this.location = location
    this.index = index
  }
}

/** Another process holds the database open. */
export class LockedError extends MetastoreError {
  constructor(location: string, options?: { cause?: unknown }) {
    super('LOCKED', `the database at ${location} is locked by another process`, options)
    this.name = 'LockedError'
  }
}

/** A membership change that would be unsafe or is malformed. */
export class InvalidConfChangeError extends MetastoreError {
  constructor(message: string) {
    super('INVALID_CONF_CHANGE', message)
    this.name = 'InvalidConfChangeError'
  }
}

/** A watcher fell too far behind; resume with a new watch from `resumeRevision`. */
export class WatchOverflowError extends MetastoreError {
  readonly resumeRevision: number
  constructor(resumeRevision: number, limit: number) {
    super('WATCH_OVERFLOW', `the watcher fell more than ${limit} revisions behind; watch again from revision ${resumeRevision}`)
    this.name = 'WatchOverflowError'
    this.resumeRevision = resumeRevision
  }
}

/** A frame, message or request that does not decode to what its protocol says; it is dropped. */
export class MalformedError extends MetastoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MALFORMED', message, options)
    this.name = 'MalformedError'
  }
}

/** A peer was refused: another cluster, an unknown node id, or a failed authentication. */
export class UnauthorizedError extends MetastoreError {
  /** Why: `cluster`, `node`, `secret` or `protocol`. */
  readonly reason: 'cluster' | 'node' | 'secret' | 'protocol'
  constructor(reason: UnauthorizedError['reason'], message: string) {
    super('UNAUTHORIZED', message)
    this.name = 'UnauthorizedError'
    this.reason = reason
  }
}

/** This node has been removed from its cluster: it serves nothing more. */
export class RemovedError extends MetastoreError {
  constructor(id: number) {
    super('REMOVED', `node ${id} has been removed from the cluster`)
    this.name = 'RemovedError'
  }
}

/** A peer could not be reached (no connection, or its queue is full). */
export class UnreachableError extends MetastoreError {
  readonly peer: number
  constructor(peer: number, message?: string) {
    super('UNREACHABLE', message ?? `peer ${peer} is unreachable`)
    this.name = 'UnreachableError'
    this.peer = peer
  }
}
