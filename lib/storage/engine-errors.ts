/**
 * Turning the errors of storage engines into metastore's coded errors. Engines report a held lock
 * and on-disk corruption in their own ways (classic-level: `LEVEL_LOCKED`, `LEVEL_CORRUPTION`;
 * RocksDB: `IO error: lock ...`, `Corruption: ...`); callers get `LOCKED` and `CORRUPT_LOG`.
 *
 * @module
 */
import { CorruptLogError, LockedError, MetastoreError } from '../errors.js'

interface CodedError {
  code?: unknown
  message?: unknown
  cause?: unknown
}

/** The innermost engine message of an error chain, for messages that must say what went wrong. */
export function describeEngineError(err: unknown): string {
  let e: unknown = err
  let message = String(err)
  for (let depth = 0; depth < 5 && typeof e === 'object' && e !== null; depth++) {
    const c = e as CodedError
    if (typeof c.message === 'string') message = c.message
    e = c.cause
  }
  return message
}

function chain(err: unknown): CodedError[] {
  const out: CodedError[] = []
  let e: unknown = err
  for (let depth = 0; depth < 5 && typeof e === 'object' && e !== null; depth++) {
    out.push(e as CodedError)
    e = (e as CodedError).cause
  }
  return out
}

/** True when the error chain says another process (or handle) holds the database's lock. */
export function isLockError(err: unknown): boolean {
  return chain(err).some(
    (e) => e.code === 'LEVEL_LOCKED' || (typeof e.message === 'string' && /\block\b.*\bLOCK\b|\bLOCK\b.*(temporarily unavailable|already held|lock hold)/i.test(e.message)),
  )
}

/** True when the error chain reports on-disk corruption found by the engine itself. */
export function isCorruptionError(err: unknown): boolean {
  return chain(err).some(
    (e) => e.code === 'LEVEL_CORRUPTION' || (typeof e.message === 'string' && /\bcorruption\b/i.test(e.message)),
  )
}

/** True when the error chain is the operating system refusing access (not damage). */
function isPermissionError(err: unknown): boolean {
  return chain(err).some(
    (e) => e.code === 'EACCES' || e.code === 'EPERM' || e.code === 'EROFS' || (typeof e.message === 'string' && /permission denied|read-only file system/i.test(e.message)),
  )
}

/**
 * Maps an error from opening the database at `location` to LOCKED, CORRUPT_LOG or
 * STORAGE_UNAVAILABLE. `existing` says the directory already held a database: an engine that then
 * cannot open its own files (a damaged CURRENT or MANIFEST, a table file of the wrong size, a bad
 * block checksum) is reporting damage, whatever words it uses, so that is CORRUPT_LOG too.
 */
export function mapOpenError(err: unknown, location: string, existing = false): MetastoreError {
  if (err instanceof MetastoreError) return err
  if (isLockError(err)) return new LockedError(location, { cause: err })
  if (isCorruptionError(err) || (existing && !isPermissionError(err))) {
    const e = new CorruptLogError(location, 0, `the storage engine cannot open its files: ${describeEngineError(err)}`)
    e.cause = err
    return e
  }
  return new MetastoreError('STORAGE_UNAVAILABLE', `cannot open the database at ${location}: ${describeEngineError(err)}`, { cause: err })
}
