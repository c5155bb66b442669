/**
 * The wire encoding of Raft message batches, shared by the network transports (TCP, HTTP).
 *
 * A batch is msgpack: `[WIRE_VERSION, [message, ...]]`, each message a positional array (smaller and
 * faster to decode than maps, and simple to check field by field):
 *
 * ```
 * message  = [type, to, from, term, logTerm, index, commit, reject, rejectHint, entries, snapshot | nil, context | nil]
 * entry    = [term, index, type, data]
 * snapshot = [index, term, confState, data]
 * confState = [voters, learners, votersOutgoing, learnersNext, autoLeave]
 * ```
 *
 * Byte fields (`data`, `context`) are msgpack `bin`, so they stay binary. {@link decodeBatch} checks
 * every field: what arrives from the network is untrusted until it has passed.
 *
 * @module
 */
import { Packr } from 'msgpackr'
import { MalformedError } from '../lib/errors.js'
import { EntryType, MessageType } from '../lib/raft/types.js'
import type { ConfState, Entry, Message, NodeId, Snapshot } from '../lib/raft/types.js'

/** The version of the batch encoding (and of the handshake that precedes it). */
export const WIRE_VERSION = 1

// NB: records off, so that a batch decodes without structure definitions shared between nodes;
// copyBuffers on, so that a small entry kept by the log does not pin the whole frame it came in.
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true, copyBuffers: true })

const EMPTY = new Uint8Array(0)

function confStateTuple(cs: ConfState): unknown[] {
  return [[...cs.voters], [...cs.learners], [...cs.votersOutgoing], [...cs.learnersNext], cs.autoLeave]
}

function messageTuple(m: Message): unknown[] {
  const entries = new Array<unknown>(m.entries.length)
  for (let i = 0; i < m.entries.length; i++) {
    const e = m.entries[i]
    entries[i] = [e.term, e.index, e.type, e.data]
  }
  const s = m.snapshot
  const snapshot = s ? [s.metadata.index, s.metadata.term, confStateTuple(s.metadata.confState), s.data] : null
  return [m.type, m.to, m.from, m.term, m.logTerm, m.index, m.commit, m.reject, m.rejectHint, entries, snapshot, m.context ?? null]
}

/**
 * Encodes one batch of messages from one node (msgpackr; `Uint8Array` fields stay binary).
 *
 * @example
 * const bytes = encodeBatch([makeMessage({ type: MessageType.Heartbeat, from: 1, to: 2, term: 3 })])
 * const [m] = decodeBatch(bytes) // m.type === MessageType.Heartbeat
 */
export function encodeBatch(messages: readonly Message[]): Uint8Array {
  const tuples = new Array<unknown>(messages.length)
  for (let i = 0; i < messages.length; i++) tuples[i] = messageTuple(messages[i])
  return packr.pack([WIRE_VERSION, tuples])
}

// --- decoding: every check throws MalformedError with the path of the field at fault.

function fail(path: string, what: string): never {
  throw new MalformedError(`malformed batch: ${path} ${what}`)
}

function int(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(path, 'is not a safe non-negative integer')
  return v
}

function tuple(v: unknown, length: number, path: string): unknown[] {
  if (!Array.isArray(v) || v.length !== length) fail(path, `is not an array of ${length}`)
  return v
}

function list(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) fail(path, 'is not an array')
  return v
}

function bytes(v: unknown, path: string): Uint8Array {
  if (!(v instanceof Uint8Array)) fail(path, 'is not binary')
  return v.constructor === Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength)
}

function bool(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') fail(path, 'is not a boolean')
  return v
}

function ids(v: unknown, path: string): NodeId[] {
  const a = list(v, path)
  for (let i = 0; i < a.length; i++) {
    if (int(a[i], `${path}[${i}]`) === 0) fail(`${path}[${i}]`, 'is node 0')
  }
  return a as NodeId[]
}

function isNetworkType(t: number): boolean {
  return t >= MessageType.App && t <= MessageType.Forward
}

function entry(v: unknown, path: string): Entry {
  const t = tuple(v, 4, path)
  const type = int(t[2], `${path}.type`)
  if (type !== EntryType.Normal && type !== EntryType.ConfChange) fail(`${path}.type`, `is unknown (${type})`)
  return { term: int(t[0], `${path}.term`), index: int(t[1], `${path}.index`), type, data: bytes(t[3], `${path}.data`) }
}

function snapshot(v: unknown, path: string): Snapshot {
  const t = tuple(v, 4, path)
  const cs = tuple(t[2], 5, `${path}.confState`)
  const confState: ConfState = {
    voters: ids(cs[0], `${path}.confState.voters`),
    learners: ids(cs[1], `${path}.confState.learners`),
    votersOutgoing: ids(cs[2], `${path}.confState.votersOutgoing`),
    learnersNext: ids(cs[3], `${path}.confState.learnersNext`),
    autoLeave: bool(cs[4], `${path}.confState.autoLeave`),
  }
  return {
    metadata: { index: int(t[0], `${path}.index`), term: int(t[1], `${path}.term`), confState },
    data: bytes(t[3], `${path}.data`),
  }
}

function message(v: unknown, path: string): Message {
  const t = tuple(v, 12, path)
  const type = int(t[0], `${path}.type`)
  if (!isNetworkType(type)) fail(`${path}.type`, `is not a message type of the network (${type})`)
  const rawEntries = list(t[9], `${path}.entries`)
  const entries = new Array<Entry>(rawEntries.length)
  for (let i = 0; i < rawEntries.length; i++) entries[i] = entry(rawEntries[i], `${path}.entries[${i}]`)
  const m: {
    -readonly [K in keyof Message]: Message[K]
  } = {
    type,
    to: int(t[1], `${path}.to`),
    from: int(t[2], `${path}.from`),
    term: int(t[3], `${path}.term`),
    logTerm: int(t[4], `${path}.logTerm`),
    index: int(t[5], `${path}.index`),
    entries,
    commit: int(t[6], `${path}.commit`),
    reject: bool(t[7], `${path}.reject`),
    rejectHint: int(t[8], `${path}.rejectHint`),
  }
  if (m.to === 0) fail(`${path}.to`, 'is node 0')
  if (m.from === 0) fail(`${path}.from`, 'is node 0')
  if (t[10] !== null) m.snapshot = snapshot(t[10], `${path}.snapshot`)
  else if (type === MessageType.Snap) fail(`${path}.snapshot`, 'is missing from a snapshot message')
  if (t[11] !== null) m.context = bytes(t[11], `${path}.context`)
  return m
}

/**
 * Decodes and validates a batch: every field has its type and range (integers are safe and
 * non-negative, node ids are not 0, `type` is a message type of the network, entries and snapshot
 * metadata are well formed, byte fields are `Uint8Array`s). Throws {@link MalformedError} on
 * anything else, and never anything else.
 */
export function decodeBatch(bytes: Uint8Array): Message[] {
  if (!(bytes instanceof Uint8Array)) throw new MalformedError('malformed batch: not binary')
  let raw: unknown
  try {
    raw = packr.unpack(bytes)
  } catch (err) {
    throw new MalformedError(`malformed batch: not msgpack (${err instanceof Error ? err.message.slice(0, 120) : 'unknown'})`)
  }
  try {
    const top = tuple(raw, 2, 'batch')
    if (top[0] !== WIRE_VERSION) fail('batch.version', `is not ${WIRE_VERSION}`)
    const tuples = list(top[1], 'batch.messages')
    const out = new Array<Message>(tuples.length)
    for (let i = 0; i < tuples.length; i++) out[i] = message(tuples[i], `messages[${i}]`)
    return out
  } catch (err) {
    if (err instanceof MalformedError) throw err
    // A getter cannot run on decoded data, but say so rather than let anything else escape.
    throw new MalformedError('malformed batch', { cause: err })
  }
}

/**
 * Checks that every message of a decoded batch is from `from` and to `to` (the peer the connection
 * authenticated, and this node): a peer may not speak for another. Throws {@link MalformedError}.
 */
export function checkAddressing(messages: readonly Message[], from: NodeId, to: NodeId): void {
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]
    if (m.from !== from || m.to !== to) {
      throw new MalformedError(`messages[${i}] is from ${m.from} to ${m.to} on a link from ${from} to ${to}`)
    }
  }
}

/** A copy of a snapshot message with its data left out (the TCP transport sends the data apart). */
export function withoutSnapshotData(m: Message): Message {
  if (!m.snapshot) return m
  return { ...m, snapshot: { metadata: m.snapshot.metadata, data: EMPTY } }
}

/**
 * Whether a batch can wait for the end of the turn before it is written: only appends without
 * entries (a leader's new commit index, or a probe), which no one waits on, and which the
 * entries a leader appends next in the same turn carry too. Anything else goes out at once.
 */
export function canWaitForTurnEnd(messages: readonly Message[]): boolean {
  return messages.every((m) => m.type === MessageType.App && m.entries.length === 0)
}
