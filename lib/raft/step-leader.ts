import type { Raft, StepResult } from './raft.js'
import { VoteResult } from './quorum/quorum.js'
import { EntryType, MessageType, NONE, type Message } from './types.js'

/** A proposal on the leader (local, or forwarded by a follower). */
function propose(r: Raft, m: Message): StepResult {
  if (m.entries.length === 0) throw new Error(`${r.id} stepped empty MsgProp`)
  if (!r.trk.progress.has(r.id)) {
    // Removed from the configuration: we may be a leader only until we learn we are not.
    return 'proposal-dropped'
  }
  if (r.leadTransferee !== NONE) {
    r.logger.debug(`${r.id} [term ${r.term}] transfer leadership to ${r.leadTransferee} is in progress; dropping proposal`)
    return 'proposal-dropped'
  }
  for (const e of m.entries) {
    if (e.type !== EntryType.ConfChange) continue
    const refusal = r.confChangeRefusal(e.data)
    if (refusal !== undefined) {
      r.logger.info(`${r.id} ignoring conf change at config ${r.trk.config.voters}: ${refusal}`)
      return 'proposal-dropped'
    }
  }
  const before = r.log.lastIndex()
  if (!r.appendEntry(m.entries)) return 'proposal-dropped'
  for (let i = 0; i < m.entries.length; i++) {
    if (m.entries[i].type === EntryType.ConfChange) r.pendingConfIndex = before + i + 1
  }
  r.bcastAppend()
  return 'ok'
}

function readIndex(r: Raft, m: Message): StepResult {
  // A removed leader handing over cannot vouch for anything.
  if (!r.isVoter()) return 'not-leader'
  // Raft §6.4: the commit index is only known to be current once this leader has committed an
  // entry of its own term. Hold the request until then. This holds for a single voter too: after
  // a membership change, the previous leader may have committed entries with our acknowledgement
  // that we do not know are committed yet.
  if (!r.committedEntryInCurrentTerm()) {
    r.pendingReadIndexMessages.push(m)
    return 'ok'
  }
  sendReadIndexResponse(r, m)
  return 'ok'
}

export function sendReadIndexResponse(r: Raft, m: Message): void {
  if (r.trk.isSingleton()) {
    // Alone, the commit index is ours to decide: no quorum round is needed.
    r.respondToReadIndex(m, r.log.committed)
  } else if (r.readOnly.option === 'lease-based' && r.leaseValid()) {
    r.respondToReadIndex(m, r.log.committed)
  } else {
    // A quorum round: heartbeats carrying the request's round context (the leader acknowledges
    // its own). Also the fallback of lease-based reads when the lease has run out.
    const ctx = r.readOnly.addRequest(r.log.committed, m)
    r.readOnly.recvAck(r.id, ctx)
    r.bcastHeartbeatWithContext(ctx)
  }
}

export function releasePendingReadIndexMessages(r: Raft): void {
  if (r.pendingReadIndexMessages.length === 0) return
  if (!r.committedEntryInCurrentTerm()) return
  const msgs = r.pendingReadIndexMessages
  r.pendingReadIndexMessages = []
  for (const m of msgs) sendReadIndexResponse(r, m)
}

/** The leader's reaction to every message (Raft §5.3 replication, §6 membership, §6.4 reads). */
export function stepLeader(r: Raft, m: Message): StepResult {
  // Messages that do not concern one follower's progress.
  switch (m.type) {
    case MessageType.Beat:
      r.bcastHeartbeat()
      return 'ok'
    case MessageType.CheckQuorum:
      // A leader that is not a voter (removed, handing over) stays until its successor takes
      // over: stepping down early could leave entries only it has (see handOffLeadership). Once a
      // quorum of the configuration holds all its entries and it hears from none of them (they
      // have a new leader, and a removed node may be refused by their transports), it goes.
      if (!r.trk.quorumActive() && (r.isVoter() || r.trk.committed() >= r.log.lastIndex())) {
        r.logger.warn(`${r.id} stepped down to follower since quorum is not active`)
        r.becomeFollower(r.term, NONE)
      }
      // Start a new round of activity tracking.
      r.trk.visit((id, pr) => {
        if (id !== r.id) pr.recentActive = false
      })
      return 'ok'
    case MessageType.Propose:
    case MessageType.Forward:
      return propose(r, m)
    case MessageType.ReadIndex:
      return readIndex(r, m)
  }

  const pr = r.trk.progress.get(m.from)
  if (!pr) {
    r.logger.debug(`${r.id} no progress available for ${m.from}`)
    return 'ok'
  }
  switch (m.type) {
    case MessageType.AppResp: {
      pr.recentActive = true
      if (m.reject) {
        r.logger.debug(`${r.id} received MsgAppResp(rejected, hint: (index ${m.rejectHint}, term ${m.logTerm})) from ${m.from} for index ${m.index}`)
        // Fast backtracking: the follower says its log has term `m.logTerm` at `m.rejectHint`
        // (or is shorter). Our log can only match at or before the last index whose term is
        // <= that term, so jump there directly.
        let nextProbeIdx = m.rejectHint
        if (m.logTerm > 0) nextProbeIdx = r.log.findConflictByTerm(m.rejectHint, m.logTerm).index
        if (pr.maybeDecrTo(m.index, nextProbeIdx)) {
          r.logger.debug(`${r.id} decreased progress of ${m.from} to [${pr}]`)
          if (pr.state === 'replicate') pr.becomeProbe()
          r.sendAppend(m.from)
        }
        return 'ok'
      }
      const oldPaused = pr.isPaused()
      if (!pr.maybeUpdate(m.index)) {
        // A stale or duplicate acknowledgement: nothing new, but a probe may be answered.
        if (oldPaused && !pr.isPaused()) r.sendAppend(m.from)
        return 'ok'
      }
      if (pr.state === 'probe') {
        pr.becomeReplicate()
      } else if (pr.state === 'snapshot' && pr.match + 1 >= r.log.firstIndex()) {
        // The follower caught up past our compaction point: appends can resume.
        r.logger.debug(`${r.id} recovered from needing snapshot, resumed sending replication messages to ${m.from} [${pr}]`)
        pr.becomeProbe()
        pr.becomeReplicate()
      } else if (pr.state === 'replicate') {
        pr.inflights.freeLE(m.index)
      }
      if (r.maybeCommit()) {
        releasePendingReadIndexMessages(r)
        r.bcastAppend()
      } else if (oldPaused) {
        // The follower was paused and is not any more: send what it is missing.
        r.sendAppend(m.from)
      }
      // Fill the pipeline while the window allows.
      while (r.maybeSendAppend(m.from, false)) {
        /* keep sending */
      }
      if (m.from === r.leadTransferee && pr.match === r.log.lastIndex()) {
        r.logger.info(`${r.id} sent MsgTimeoutNow to ${m.from} after received MsgAppResp`)
        r.sendTimeoutNow(m.from)
      }
      return 'ok'
    }
    case MessageType.HeartbeatResp: {
      pr.recentActive = true
      pr.probeSent = false
      if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne()
      if (m.index > pr.ackedRound && m.index <= r.heartbeatRound) pr.ackedRound = m.index
      if (pr.match < r.log.lastIndex()) r.sendAppend(m.from)
      if (!m.context || m.context.length === 0) return 'ok'
      const acks = r.readOnly.recvAck(m.from, m.context)
      if (!acks) return 'ok'
      const votes = new Map<number, boolean>()
      for (const id of acks) votes.set(id, true)
      if (r.trk.config.voters.voteResult(votes) !== VoteResult.Won) return 'ok'
      for (const rs of r.readOnly.advance(m.context)) r.respondToReadIndex(rs.request, rs.index)
      return 'ok'
    }
    case MessageType.SnapStatus: {
      if (pr.state !== 'snapshot') return 'ok'
      if (!m.reject) {
        pr.becomeProbe()
        r.logger.debug(`${r.id} snapshot succeeded, resumed sending replication messages to ${m.from} [${pr}]`)
      } else {
        // The snapshot never arrived: forget it, and probe (which sends a new one if needed).
        pr.pendingSnapshot = 0
        pr.becomeProbe()
        r.logger.debug(`${r.id} snapshot failed, resumed sending replication messages to ${m.from} [${pr}]`)
      }
      // Wait for the follower's answer (or the next heartbeat) before sending more: the driver
      // reports success when the snapshot was sent, not when it was applied.
      pr.probeSent = true
      return 'ok'
    }
    case MessageType.Unreachable:
      // The follower may have lost messages: stop streaming optimistically.
      if (pr.state === 'replicate') pr.becomeProbe()
      return 'ok'
    case MessageType.TransferLeader: {
      if (pr.isLearner) {
        r.logger.debug(`${r.id} is learner. Ignored transferring leadership`)
        return 'ok'
      }
      const transferee = m.from
      const last = r.leadTransferee
      if (last !== NONE) {
        if (last === transferee) return 'ok'
        r.abortLeaderTransfer()
      }
      if (transferee === r.id) return 'ok'
      // The transfer must finish within an election timeout.
      r.electionElapsed = 0
      r.leadTransferee = transferee
      if (pr.match === r.log.lastIndex()) {
        r.sendTimeoutNow(transferee)
      } else {
        r.sendAppend(transferee)
      }
      return 'ok'
    }
  }
  return 'ok'
}
