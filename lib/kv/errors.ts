/**
 * The errors of the KV state machine. The store never throws these across the log: a command
 * that fails records a plain {@link CommandError} in its result (so it can be kept in the dedup
 * table and answered again on a retry), and {@link toError} turns that record into the class here.
 * Reads, which run locally, throw the classes directly.
 *
 * @module
 */
import { CompactedError, MetastoreError } from '../errors.js'
import type { ErrorCode } from '../errors.js'

/** A revision later than the store's current revision was asked for (etcd's `ErrFutureRev`). */
export class FutureRevisionError extends MetastoreError {
  /** The store's current revision when the request was refused. */
  readonly currentRevision: number
  constructor(revision: number, currentRevision: number, message?: string) {
    super('FUTURE_REVISION', message ?? `revision ${revision} is a future revision (current revision ${currentRevision})`)
    this.name = 'FutureRevisionError'
    this.currentRevision = currentRevision
  }
}

/** The lease does not exist: never granted, revoked or expired (etcd's `ErrLeaseNotFound`). */
export class LeaseNotFoundError extends MetastoreError {
  readonly leaseId: number
  constructor(leaseId: number) {
    super('LEASE_NOT_FOUND', `lease ${leaseId} not found`)
    this.name = 'LeaseNotFoundError'
    this.leaseId = leaseId
  }
}

/** A lease with this id exists already (etcd's `ErrLeaseExists`). */
export class LeaseExistsError extends MetastoreError {
  readonly leaseId: number
  constructor(leaseId: number) {
    super('LEASE_EXISTS', `lease ${leaseId} already exists`)
    this.name = 'LeaseExistsError'
    this.leaseId = leaseId
  }
}

/** A put with `ignoreValue` or `ignoreLease` named a key that does not exist (etcd's `ErrKeyNotFound`). */
export class KeyNotFoundError extends MetastoreError {
  constructor(message = 'key not found') {
    super('KEY_NOT_FOUND', message)
    this.name = 'KeyNotFoundError'
  }
}

/**
 * A request carried a sequence number lower than the last one applied for its client. Its
 * result is no longer kept (the client has moved on), so it is neither applied nor answered.
 */
export class StaleSequenceError extends MetastoreError {
  readonly lastSeq: number
  constructor(seq: number, lastSeq: number, message?: string) {
    super('STALE_SEQUENCE', message ?? `sequence ${seq} is older than the last applied sequence ${lastSeq} of this client`)
    this.name = 'StaleSequenceError'
    this.lastSeq = lastSeq
  }
}

/**
 * A committed log entry could not be decoded as a command. Every replica rejects it the same way
 * and moves on; it is answered with this error instead of stopping the state machine.
 */
export class InvalidCommandError extends MetastoreError {
  constructor(message: string) {
    super('INVALID_COMMAND', message)
    this.name = 'InvalidCommandError'
  }
}

/** A snapshot stream is malformed, truncated or fails its checksum; nothing was replaced. */
export class InvalidSnapshotError extends MetastoreError {
  constructor(message: string) {
    super('INVALID_SNAPSHOT', message)
    this.name = 'InvalidSnapshotError'
  }
}

/** The codes a command result can carry. */
export type CommandErrorCode = Extract<
  ErrorCode,
  'COMPACTED' | 'FUTURE_REVISION' | 'LEASE_NOT_FOUND' | 'LEASE_EXISTS' | 'KEY_NOT_FOUND' | 'STALE_SEQUENCE' | 'INVALID_COMMAND'
>

/**
 * A failed command, as plain data: what a result records and the dedup table keeps.
 * `compactRevision` is set for `COMPACTED`, `currentRevision` for `FUTURE_REVISION`,
 * `leaseId` for the lease codes, `lastSeq` for `STALE_SEQUENCE`.
 */
export interface CommandError {
  readonly code: CommandErrorCode
  readonly message: string
  readonly compactRevision?: number
  readonly currentRevision?: number
  readonly leaseId?: number
  readonly lastSeq?: number
}

/** Records a thrown error as a {@link CommandError}; errors the state machine does not expect are rethrown. */
export function toCommandError(error: unknown): CommandError {
  if (error instanceof CompactedError) return { code: 'COMPACTED', message: error.message, compactRevision: error.compactRevision }
  if (error instanceof FutureRevisionError) {
    return { code: 'FUTURE_REVISION', message: error.message, currentRevision: error.currentRevision }
  }
  if (error instanceof LeaseNotFoundError || error instanceof LeaseExistsError) {
    return { code: error.code as CommandErrorCode, message: error.message, leaseId: error.leaseId }
  }
  if (error instanceof StaleSequenceError) return { code: 'STALE_SEQUENCE', message: error.message, lastSeq: error.lastSeq }
  if (error instanceof KeyNotFoundError || error instanceof InvalidCommandError) {
    return { code: error.code as CommandErrorCode, message: error.message }
  }
  throw error
}

/**
 * Turns a recorded {@link CommandError} back into its error class, for the driver to reject
 * the proposal with.
 *
 * @example
 * ```ts
 * const [applied] = await store.apply([entry])
 * if (applied.result.type === 'error') throw toError(applied.result.error)
 * ```
 */
export function toError(error: CommandError): MetastoreError {
  switch (error.code) {
    case 'COMPACTED':
      return new CompactedError(error.compactRevision ?? 0, error.message)
    case 'FUTURE_REVISION':
      return new FutureRevisionError(0, error.currentRevision ?? 0, error.message)
    case 'LEASE_NOT_FOUND':
      return new LeaseNotFoundError(error.leaseId ?? 0)
    case 'LEASE_EXISTS':
      return new LeaseExistsError(error.leaseId ?? 0)
    case 'KEY_NOT_FOUND':
      return new KeyNotFoundError(error.message)
    case 'STALE_SEQUENCE':
      return new StaleSequenceError(0, error.lastSeq ?? 0, error.message)
    case 'INVALID_COMMAND':
      return new InvalidCommandError(error.message)
  }
}
