import type { ConfState, NodeId } from '../raft/types.js'

/** Where each member can be reached, as its transport understands addresses (by node id). */
export type MemberAddresses = Readonly<Record<number, string>>

/** One member of the cluster. */
export interface Member {
  readonly id: NodeId
  readonly role: 'voter' | 'learner'
  /** Where peers reach it, when it was given (`peers` or `addVoter(id, { address })`). */
  readonly address?: string
}

/** What the driver attaches to a membership change: who waits for it, and the member's address. */
export interface ConfContext {
  readonly requestId?: string
  readonly address?: string
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function encodeConfContext(c: ConfContext): Uint8Array {
  const o: { r?: string; a?: string } = {}
  if (c.requestId !== undefined) o.r = c.requestId
  if (c.address !== undefined) o.a = c.address
  return encoder.encode(JSON.stringify(o))
}

/** Decodes a context; anything else (an empty or foreign context) decodes to nothing. */
export function decodeConfContext(bytes: Uint8Array | undefined): ConfContext {
  if (!bytes || bytes.length === 0) return {}
  try {
    const o = JSON.parse(decoder.decode(bytes)) as unknown
    if (typeof o !== 'object' || o === null) return {}
    const { r, a } = o as { r?: unknown; a?: unknown }
    return { ...(typeof r === 'string' ? { requestId: r } : {}), ...(typeof a === 'string' ? { address: a } : {}) }
  } catch {
    return {}
  }
}

/** Whether `id` has any part in the configuration (voter or learner, incoming or outgoing). */
export function isMember(cs: ConfState, id: NodeId): boolean {
  return cs.voters.includes(id) || cs.learners.includes(id) || (cs.votersOutgoing ?? []).includes(id) || (cs.learnersNext ?? []).includes(id)
}

/** Every id the configuration names. */
export function memberIds(cs: ConfState): Set<NodeId> {
  return new Set([...cs.voters, ...cs.learners, ...(cs.votersOutgoing ?? []), ...(cs.learnersNext ?? [])])
}

/** The members of a configuration, sorted by id, with their addresses. */
export function membersOf(cs: ConfState, addresses: MemberAddresses): Member[] {
  const voters = new Set([...cs.voters, ...(cs.votersOutgoing ?? [])])
  return [...memberIds(cs)]
    .sort((a, b) => a - b)
    .map((id) => {
      const role = voters.has(id) && !cs.learners.includes(id) && !(cs.learnersNext ?? []).includes(id) ? 'voter' : 'learner'
      const address = addresses[id]
      return address === undefined ? { id, role } : { id, role, address }
    })
}
