// The log encoding of commands: what goes in comes out equal, and anything malformed is a
// TypeError at encode time and at decode time (where apply() turns it into INVALID_COMMAND).
import t from 'tap'
import { Packr } from 'msgpackr'
import { decodeEnvelope, encodeEnvelope } from '../../lib/kv/codec.js'
import type { Command, Envelope } from '../../lib/kv/commands.js'
import { CompactedError } from '../../lib/errors.js'
import { FutureRevisionError, LeaseNotFoundError, toCommandError, toError } from '../../lib/kv/errors.js'
import { inRange, NO_END } from '../../lib/kv/key-range.js'
import { utf8 } from './helpers.js'

const commands: Command[] = [
  { type: 'put', key: utf8('k'), value: utf8('v'), lease: 5, prevKv: true },
  { type: 'put', key: utf8('k'), ignoreValue: true, ignoreLease: true },
  { type: 'deleteRange', key: utf8('a'), rangeEnd: NO_END, prevKv: true },
  { type: 'range', key: utf8('a'), rangeEnd: utf8('b'), revision: 3, limit: 2, sortOrder: 'descend', sortTarget: 'modRevision', minModRevision: 1 },
  {
    type: 'txn',
    compare: [
      { key: utf8('a'), target: 'value', result: '!=', value: utf8('x') },
      { key: utf8('a'), rangeEnd: utf8('b'), target: 'version', result: '>', value: 2 },
    ],
    success: [{ type: 'put', key: utf8('a'), value: utf8('1') }, { type: 'range', key: utf8('a') }],
    failure: [{ type: 'deleteRange', key: utf8('a') }],
  },
  { type: 'compact', revision: 10 },
  { type: 'leaseGrant', id: 2 ** 52, ttlSeconds: 60 },
  { type: 'leaseRevoke', id: 3 },
  { type: 'leaseCheckpoint', checkpoints: [{ id: 3, remainingTtlMs: 0 }] },
  { type: 'leaseExpire', ids: [1, 2] },
]

t.test('every command survives encode → decode', async (t) => {
  for (const cmd of commands) {
    const envelope: Envelope = { clientId: 'client-1', seq: 42, cmd }
    t.same(decodeEnvelope(encodeEnvelope(envelope)), envelope, cmd.type)
  }
})

t.test('malformed envelopes and commands are TypeErrors', async (t) => {
  const bad: unknown[] = [
    null,
    { clientId: 1, seq: 1, cmd: commands[0] },
    { clientId: 'c', seq: 0, cmd: commands[0] },
    { clientId: 'c', seq: 1.5, cmd: commands[0] },
    { clientId: 'c', seq: 1, cmd: { type: 'nope' } },
    { clientId: 'c', seq: 1, cmd: { type: 'put', key: utf8('k') } },
    { clientId: 'c', seq: 1, cmd: { type: 'put', key: new Uint8Array(0), value: utf8('v') } },
    { clientId: 'c', seq: 1, cmd: { type: 'put', key: 'k', value: utf8('v') } },
    { clientId: 'c', seq: 1, cmd: { type: 'put', key: utf8('k'), value: utf8('v'), ignoreValue: true } },
    { clientId: 'c', seq: 1, cmd: { type: 'put', key: utf8('k'), value: utf8('v'), lease: 3, ignoreLease: true } },
    { clientId: 'c', seq: 1, cmd: { type: 'put', key: utf8('k'), value: utf8('v'), lease: -1 } },
    { clientId: 'c', seq: 1, cmd: { type: 'range', key: utf8('k'), sortOrder: 'sideways' } },
    { clientId: 'c', seq: 1, cmd: { type: 'txn', compare: [{ key: utf8('k'), target: 'value', result: '=', value: 3 }], success: [], failure: [] } },
    { clientId: 'c', seq: 1, cmd: { type: 'txn', compare: [{ key: utf8('k'), target: 'version', result: '~', value: 3 }], success: [], failure: [] } },
    { clientId: 'c', seq: 1, cmd: { type: 'txn', compare: [], success: [{ type: 'compact', revision: 2 }], failure: [] } },
    { clientId: 'c', seq: 1, cmd: { type: 'compact', revision: 0 } },
    { clientId: 'c', seq: 1, cmd: { type: 'leaseGrant', id: 0, ttlSeconds: 5 } },
    { clientId: 'c', seq: 1, cmd: { type: 'leaseGrant', id: 1, ttlSeconds: 0 } },
    { clientId: 'c', seq: 1, cmd: { type: 'leaseCheckpoint', checkpoints: [{ id: 1 }] } },
    { clientId: 'c', seq: 1, cmd: { type: 'leaseExpire', ids: ['1'] } },
  ]
  const packr = new Packr({ useRecords: false })
  for (const value of bad) {
    t.throws(() => encodeEnvelope(value as Envelope), TypeError, JSON.stringify(value))
    t.throws(() => decodeEnvelope(packr.pack(value)), TypeError, `decode ${JSON.stringify(value)}`)
  }
  t.throws(() => decodeEnvelope(Uint8Array.of(0xc1)), TypeError, 'not msgpack')
})

t.test('inRange follows the etcd conventions', async (t) => {
  t.equal(inRange(utf8('a'), utf8('a'), undefined), true)
  t.equal(inRange(utf8('ab'), utf8('a'), undefined), false)
  t.equal(inRange(utf8('ab'), utf8('a'), utf8('b')), true)
  t.equal(inRange(utf8('b'), utf8('a'), utf8('b')), false)
  t.equal(inRange(utf8('zzz'), utf8('b'), NO_END), true)
  t.equal(inRange(utf8('a'), utf8('b'), NO_END), false)
  t.equal(inRange(utf8('a'), utf8('b'), new Uint8Array(0)), false, 'an empty rangeEnd is a single key')
})

t.test('command errors round-trip through their plain records', async (t) => {
  const compacted = toError(toCommandError(new CompactedError(7)))
  t.ok(compacted instanceof CompactedError)
  t.equal((compacted as CompactedError).compactRevision, 7)
  const future = toError(toCommandError(new FutureRevisionError(9, 8)))
  t.ok(future instanceof FutureRevisionError)
  t.equal((future as FutureRevisionError).currentRevision, 8)
  t.equal(future.message, new FutureRevisionError(9, 8).message)
  const lease = toError(toCommandError(new LeaseNotFoundError(3)))
  t.ok(lease instanceof LeaseNotFoundError)
  t.equal(lease.code, 'LEASE_NOT_FOUND')
  t.throws(() => toCommandError(new Error('disk on fire')), { message: 'disk on fire' }, 'unexpected errors are not results')
})
