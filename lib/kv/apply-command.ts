/**
 * Applies one command to a batch being prepared. Every check that can refuse a command runs
 * before its first write, so a refused command leaves nothing behind in the batch.
 *
 * @module
 */
import { CompactedError } from '../errors.js'
import type {
  Command,
  CompactCommand,
  DeleteRangeCommand,
  LeaseCheckpointCommand,
  LeaseExpireCommand,
  LeaseGrantCommand,
  LeaseRevokeCommand,
  PutCommand,
  TxnCommand,
  TxnOp,
} from './commands.js'
import { evaluateCompare } from './compare.js'
import { FutureRevisionError, KeyNotFoundError, LeaseExistsError, LeaseNotFoundError } from './errors.js'
import { leaseIdKey, leaseKeyBounds, leaseKeyKey } from './layout.js'
import { currentKeyValues, readRange, readRevision } from './read-range.js'
import { decodeCurrent, decodeLease, encodeLease } from './records.js'
import type { CommandResult, KeyValue, TxnOpResult } from './results.js'
import { WriteTxn } from './write-txn.js'
import type { BatchState } from './write-txn.js'

async function currentKey(batch: BatchState, key: Uint8Array): Promise<KeyValue | undefined> {
  const bytes = await batch.overlay.get('key', key)
  return bytes === undefined ? undefined : decodeCurrent(key, bytes)
}

async function leaseExists(batch: BatchState, id: number): Promise<boolean> {
  return (await batch.overlay.get('lease', leaseIdKey(id))) !== undefined
}

/** etcd's `checkRequestPut`: the lease must exist, and the key too when its value or lease is kept. */
async function checkPut(batch: BatchState, command: PutCommand): Promise<void> {
  if (command.lease !== undefined && command.lease !== 0 && !(await leaseExists(batch, command.lease))) {
    throw new LeaseNotFoundError(command.lease)
  }
  if ((command.ignoreValue === true || command.ignoreLease === true) && (await currentKey(batch, command.key)) === undefined) {
    throw new KeyNotFoundError()
  }
}

async function put(batch: BatchState, txn: WriteTxn, command: PutCommand): Promise<KeyValue | undefined> {
  const previous = await currentKey(batch, command.key)
  // checkPut ran before, so `previous` exists when a field is kept.
  const value = command.ignoreValue === true ? previous!.value : command.value!
  const lease = command.ignoreLease === true ? previous!.lease : (command.lease ?? 0)
  txn.put(command.key, value, lease, previous)
  return previous
}

async function deleteRange(batch: BatchState, txn: WriteTxn, command: DeleteRangeCommand): Promise<KeyValue[]> {
  // Collected first: the deletes go into the overlay the scan reads.
  const doomed: KeyValue[] = []
  for await (const kv of currentKeyValues(batch.overlay, command.key, command.rangeEnd)) doomed.push(kv)
  for (const kv of doomed) txn.delete(kv)
  return doomed
}

/** etcd's `checkTxn` on the branch taken: puts as in {@link checkPut}, ranges at a readable revision. */
async function checkBranch(batch: BatchState, ops: readonly TxnOp[]): Promise<void> {
  for (const op of ops) {
    if (op.type === 'put') await checkPut(batch, op)
    else if (op.type === 'range') readRevision(op.revision, batch.meta)
  }
}

async function txn(batch: BatchState, command: TxnCommand): Promise<CommandResult> {
  let succeeded = true
  for (const compare of command.compare) {
    if (!(await evaluateCompare(batch.overlay, compare))) {
      succeeded = false
      break
    }
  }
  const ops = succeeded ? command.success : command.failure
  await checkBranch(batch, ops)
  const write = new WriteTxn(batch)
  const responses: Array<(revision: number) => TxnOpResult> = []
  for (const op of ops) {
    switch (op.type) {
      case 'put': {
        const previous = await put(batch, write, op)
        const wantPrev = op.prevKv === true && previous !== undefined
        responses.push((revision) => (wantPrev ? { type: 'put', revision, prevKv: previous } : { type: 'put', revision }))
        break
      }
      case 'deleteRange': {
        const deleted = await deleteRange(batch, write, op)
        responses.push((revision) =>
          op.prevKv === true
            ? { type: 'deleteRange', revision, deleted: deleted.length, prevKvs: deleted }
            : { type: 'deleteRange', revision, deleted: deleted.length },
        )
        break
      }
      case 'range': {
        // A read after a write of the same transaction sees it, as in etcd (rev = beginRev + 1).
        const current = write.changed ? write.revision : batch.meta.revision
        const result = await readRange(batch.overlay, op, { revision: current, compactRevision: batch.meta.compactRevision })
        responses.push(() => ({ type: 'range', ...result }))
        break
      }
    }
  }
  const revision = write.end()
  return { type: 'txn', revision, succeeded, responses: responses.map((respond) => respond(revision)) }
}

function compact(batch: BatchState, command: CompactCommand): CommandResult {
  const { revision, compactRevision } = batch.meta
  if (command.revision <= compactRevision) throw new CompactedError(compactRevision)
  if (command.revision > revision) throw new FutureRevisionError(command.revision, revision)
  // Only the boundary moves here; old versions are removed later (compaction.ts), as in etcd.
  batch.meta = { ...batch.meta, compactRevision: command.revision }
  return { type: 'compact', revision, compactRevision: command.revision }
}

async function leaseGrant(batch: BatchState, command: LeaseGrantCommand): Promise<CommandResult> {
  if (await leaseExists(batch, command.id)) throw new LeaseExistsError(command.id)
  batch.overlay.put('lease', leaseIdKey(command.id), encodeLease({ ttlSeconds: command.ttlSeconds, remainingTtlMs: command.ttlSeconds * 1000 }))
  return { type: 'leaseGrant', revision: batch.meta.revision, id: command.id, ttlSeconds: command.ttlSeconds }
}

/** Deletes a lease and, in one revision, its keys in key order (etcd sorts them too). Returns how many. */
async function revoke(batch: BatchState, id: number): Promise<number> {
  const overlay = batch.overlay
  const attached: Uint8Array[] = []
  for await (const k of overlay.keys('leaseKey', leaseKeyBounds(id))) attached.push(k.subarray(8))
  const write = new WriteTxn(batch)
  let deleted = 0
  for (const key of attached) {
    const kv = await currentKey(batch, key)
    if (kv !== undefined && kv.lease === id) {
      write.delete(kv)
      deleted++
    } else {
      // NB: cannot happen while puts and deletes keep `lease-key` in step; dropped rather than kept forever.
      overlay.del('leaseKey', leaseKeyKey(id, key))
    }
  }
  write.end()
  overlay.del('lease', leaseIdKey(id))
  return deleted
}

async function leaseRevoke(batch: BatchState, command: LeaseRevokeCommand): Promise<CommandResult> {
  if (!(await leaseExists(batch, command.id))) throw new LeaseNotFoundError(command.id)
  const deleted = await revoke(batch, command.id)
  return { type: 'leaseRevoke', revision: batch.meta.revision, deleted }
}

async function leaseCheckpoint(batch: BatchState, command: LeaseCheckpointCommand): Promise<CommandResult> {
  for (const { id, remainingTtlMs } of command.checkpoints) {
    const bytes = await batch.overlay.get('lease', leaseIdKey(id))
    if (bytes === undefined) continue
    const lease = decodeLease(bytes)
    batch.overlay.put('lease', leaseIdKey(id), encodeLease({ ttlSeconds: lease.ttlSeconds, remainingTtlMs }))
  }
  return { type: 'leaseCheckpoint', revision: batch.meta.revision }
}

async function leaseExpire(batch: BatchState, command: LeaseExpireCommand): Promise<CommandResult> {
  const expired: number[] = []
  for (const id of command.ids) {
    if (!(await leaseExists(batch, id))) continue
    await revoke(batch, id)
    expired.push(id)
  }
  return { type: 'leaseExpire', revision: batch.meta.revision, expired }
}

/** Applies `command`; throws the error a refused command answers with (before writing anything). */
export async function applyCommand(batch: BatchState, command: Command): Promise<CommandResult> {
  switch (command.type) {
    case 'put': {
      await checkPut(batch, command)
      const write = new WriteTxn(batch)
      const previous = await put(batch, write, command)
      const revision = write.end()
      return command.prevKv === true && previous !== undefined ? { type: 'put', revision, prevKv: previous } : { type: 'put', revision }
    }
    case 'deleteRange': {
      const write = new WriteTxn(batch)
      const deleted = await deleteRange(batch, write, command)
      const revision = write.end()
      return command.prevKv === true
        ? { type: 'deleteRange', revision, deleted: deleted.length, prevKvs: deleted }
        : { type: 'deleteRange', revision, deleted: deleted.length }
    }
    case 'txn':
      return txn(batch, command)
    case 'range':
      return { type: 'range', ...(await readRange(batch.overlay, command, batch.meta)) }
    case 'compact':
      return compact(batch, command)
    case 'leaseGrant':
      return leaseGrant(batch, command)
    case 'leaseRevoke':
      return leaseRevoke(batch, command)
    case 'leaseCheckpoint':
      return leaseCheckpoint(batch, command)
    case 'leaseExpire':
      return leaseExpire(batch, command)
  }
}
