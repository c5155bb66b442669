import type { Raft, StepResult } from './raft.js'
import { VoteResult } from './quorum/quorum.js'
import { MessageType, NONE, type Message } from './types.js'

/** Candidates and pre-candidates (Raft §5.2). */
export function stepCandidate(r: Raft, m: Message): StepResult {
  // A pre-candidate counts pre-vote answers; a candidate counts vote answers. Answers of the
  // other kind are stale (from an earlier round) and ignored.
  const myVoteRespType = r.state === 'pre-candidate' ? MessageType.PreVoteResp : MessageType.VoteResp
  switch (m.type) {
    case MessageType.Propose:
    case MessageType.Forward:
      r.logger.info(`${r.id} no leader at term ${r.term}; dropping proposal`)
      return 'proposal-dropped'
    case MessageType.App:
      // A leader of our term exists (Raft §5.2: "If the AppendEntries RPC is received from the new
      // leader ... the candidate recognizes the leader as legitimate and returns to follower").
      r.becomeFollower(m.term, m.from)
      r.handleAppendEntries(m)
      return 'ok'
    case MessageType.Heartbeat:
      r.becomeFollower(m.term, m.from)
      r.handleHeartbeat(m)
      return 'ok'
    case MessageType.Snap:
      r.becomeFollower(m.term, m.from)
      r.handleSnapshot(m)
      return 'ok'
    case myVoteRespType: {
      const { granted, rejected, result } = r.poll(m.from, m.type, !m.reject)
      r.logger.info(`${r.id} has received ${granted} ${MessageType[m.type]} votes and ${rejected} vote rejections`)
      if (result === VoteResult.Won) {
        if (r.state === 'pre-candidate') {
          r.campaign('election')
        } else {
          r.becomeLeader()
          r.bcastAppend()
        }
      } else if (result === VoteResult.Lost) {
        // A pre-candidate that lost keeps its term; a candidate stays at the term it raised.
        r.becomeFollower(r.term, NONE)
      }
      return 'ok'
    }
    case MessageType.TimeoutNow:
      r.logger.debug(`${r.id} [term ${r.term} state ${r.state}] ignored MsgTimeoutNow from ${m.from}`)
      return 'ok'
    case MessageType.ReadIndex:
      return 'not-leader'
  }
  return 'ok'
}
