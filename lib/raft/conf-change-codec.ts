import type { ConfChange, ConfChangeSingle, ConfChangeType } from './types.js'

// Conf changes travel inside log entries. The encoding is JSON so that the core needs no codec
// dependency; they are rare and small.
const encoder = new TextEncoder()
const decoder = new TextDecoder()
const TYPES: ReadonlySet<string> = new Set<ConfChangeType>(['addVoter', 'addLearner', 'removeNode'])

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const ctx = cc.context ? Array.from(cc.context) : undefined
  return encoder.encode(JSON.stringify({ t: cc.transition ?? 'auto', c: cc.changes.map((c) => [c.type, c.nodeId]), x: ctx }))
}

/** Decodes a conf change entry; throws TypeError on a malformed one. */
export function decodeConfChange(data: Uint8Array): ConfChange {
  const raw: unknown = JSON.parse(decoder.decode(data))
  if (typeof raw !== 'object' || raw === null) throw new TypeError('malformed conf change')
  const o = raw as { t?: unknown; c?: unknown; x?: unknown }
  if (o.t !== 'auto' && o.t !== 'joint-implicit' && o.t !== 'joint-explicit') throw new TypeError('malformed conf change transition')
  if (!Array.isArray(o.c)) throw new TypeError('malformed conf change list')
  const changes: ConfChangeSingle[] = o.c.map((c: unknown) => {
    if (!Array.isArray(c) || !TYPES.has(c[0]) || !Number.isSafeInteger(c[1])) throw new TypeError('malformed conf change item')
    return { type: c[0] as ConfChangeType, nodeId: c[1] as number }
  })
  const context = Array.isArray(o.x) ? Uint8Array.from(o.x as number[]) : undefined
  return context ? { transition: o.t, changes, context } : { transition: o.t, changes }
}

/** Whether the change is the empty one that leaves a joint configuration. */
export function isLeaveJoint(cc: ConfChange): boolean {
  return cc.changes.length === 0
}

/**
 * Whether the change must go through a joint configuration, and if so whether it is left
 * automatically. One change at a time is applied directly.
 */
export function jointMode(cc: ConfChange): { joint: boolean; autoLeave: boolean } {
  const t = cc.transition ?? 'auto'
  if (t === 'auto') return cc.changes.length > 1 ? { joint: true, autoLeave: true } : { joint: false, autoLeave: false }
  return { joint: true, autoLeave: t === 'joint-implicit' }
}
