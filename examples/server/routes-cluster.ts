/**
 * The cluster routes: members (list, add, promote, remove), leadership transfer, status, health
 * and metrics.
 */
import type { Metrics } from '../../lib/metrics.js'
import type { RequestContext } from './context.js'
import { HttpError, intField, intValue, invalid, Query, readJsonObject, sendJson, sendText } from './http-api.js'
import { canonicalPeerUrl, parsePeerUrl } from './peer-url.js'

/** Checks a member's peer URL (400 if it is not one) and returns its canonical text. */
export function peerAddress(raw: unknown): string {
  if (typeof raw !== 'string' || raw.trim() === '') throw invalid('address must be the new member\'s peer URL (e.g. http://127.0.0.1:42379)')
  try {
    return canonicalPeerUrl(parsePeerUrl(raw.trim()))
  } catch (err) {
    throw invalid((err as Error).message)
  }
}

/** A member id from a path segment. */
export function memberId(raw: string): number {
  return intValue(raw, 'the member id', 1)
}

/** `GET /v1/members` → `{ members }`. */
export async function getMembers(ctx: RequestContext): Promise<void> {
  new Query(ctx.query, [])
  sendJson(ctx.res, 200, { members: ctx.node.members() })
}

/** `POST /v1/members` `{ id, address, learner? }` → `{ members }` once the change is applied here. */
export async function postMember(ctx: RequestContext): Promise<void> {
  new Query(ctx.query, [])
  const body = await readJsonObject(ctx.req, ctx.maxRequestBytes)
  const id = intField(body, 'id', 1)
  const address = peerAddress(body.address)
  if (body.learner !== undefined && typeof body.learner !== 'boolean') throw invalid('learner must be true or false')
  const options = { address, signal: ctx.signal }
  const members = body.learner === true ? await ctx.node.addLearner(id, options) : await ctx.node.addVoter(id, options)
  sendJson(ctx.res, 200, { members })
}

/** `POST /v1/members/<id>/promote` → `{ members }`. */
export async function promoteMember(ctx: RequestContext, id: number): Promise<void> {
  new Query(ctx.query, [])
  const member = ctx.node.members().find((m) => m.id === id)
  if (!member) throw new HttpError(404, 'NOT_FOUND', `node ${id} is not a member`)
  const members = member.role === 'voter' ? ctx.node.members() : await ctx.node.promote(id, { signal: ctx.signal })
  sendJson(ctx.res, 200, { members })
}

/** `DELETE /v1/members/<id>` → `{ members }`. */
export async function deleteMember(ctx: RequestContext, id: number): Promise<void> {
  new Query(ctx.query, [])
  if (!ctx.node.members().some((m) => m.id === id)) throw new HttpError(404, 'NOT_FOUND', `node ${id} is not a member`)
  const members = await ctx.node.remove(id, { signal: ctx.signal })
  sendJson(ctx.res, 200, { members })
}

/** `POST /v1/leader` `{ id }` → `{ leader }` once `id` leads. */
export async function postLeader(ctx: RequestContext): Promise<void> {
  new Query(ctx.query, [])
  const body = await readJsonObject(ctx.req, ctx.maxRequestBytes)
  const id = intField(body, 'id', 1)
  const member = ctx.node.members().find((m) => m.id === id)
  if (!member || member.role !== 'voter') throw new HttpError(409, 'INVALID_CONF_CHANGE', `node ${id} is not a voter; it cannot lead`)
  await ctx.node.transferLeadership(id, ctx.signal)
  sendJson(ctx.res, 200, { leader: id })
}

/** `GET /v1/status`: this node's view of the cluster. */
export async function getStatus(ctx: RequestContext, clusterId: string): Promise<void> {
  new Query(ctx.query, [])
  const s = ctx.node.status()
  let progress: Record<number, { match: number; next: number; state: string }> | undefined
  if (s.progress) {
    progress = {}
    for (const [id, p] of Object.entries(s.progress)) progress[Number(id)] = { match: p.match, next: p.next, state: p.state }
  }
  sendJson(ctx.res, 200, {
    id: s.id,
    clusterId,
    role: s.role,
    term: s.term,
    leader: s.leader,
    commitIndex: s.commitIndex,
    appliedIndex: s.appliedIndex,
    revision: s.revision,
    compactRevision: s.compactRevision,
    members: s.members,
    removed: s.removed,
    ...(progress ? { progress } : {}),
  })
}

/**
 * `GET /health`: 200 only when this node knows a leader and has applied everything it knows is
 * committed; 503 with the reason otherwise (no leader, catching up, removed).
 */
export async function getHealth(ctx: RequestContext): Promise<void> {
  new Query(ctx.query, [])
  const s = ctx.node.status()
  let reason: string | undefined
  if (s.removed) reason = 'removed from the cluster'
  else if (s.leader === 0) reason = 'no leader'
  else if (s.appliedIndex < s.commitIndex) reason = `catching up (applied ${s.appliedIndex} of ${s.commitIndex})`
  if (reason !== undefined) sendJson(ctx.res, 503, { health: false, reason })
  else sendJson(ctx.res, 200, { health: true, leader: s.leader })
}

/** `GET /metrics`: the node's registry (Raft, storage, transport and HTTP metrics), Prometheus text. */
export async function getMetrics(ctx: RequestContext, metrics: Metrics): Promise<void> {
  new Query(ctx.query, [])
  sendText(ctx.res, 200, metrics.render(), 'text/plain; version=0.0.4; charset=utf-8')
}
