import type { Raft, StepResult } from './raft.js'
import { MessageType, NONE, type Message } from './types.js'

/** Followers and learners (Raft §5.2, §5.3). */
export function stepFollower(r: Raft, m: Message): StepResult {
  switch (m.type) {
    case MessageType.Propose:
    case MessageType.Forward:
      if (r.lead === NONE) {
        r.logger.info(`${r.id} no leader at term ${r.term}; dropping proposal`)
        return 'proposal-dropped'
      }
      if (r.disableProposalForwarding) {
        r.logger.info(`${r.id} not forwarding to leader ${r.lead} at term ${r.term}; dropping proposal`)
        return 'not-leader'
      }
      r.send({ type: MessageType.Forward, to: r.lead, entries: m.entries })
      return 'ok'
    case MessageType.App:
      r.electionElapsed = 0
      r.lead = m.from
      r.handleAppendEntries(m)
      return 'ok'
    case MessageType.Heartbeat:
      r.electionElapsed = 0
      r.lead = m.from
      r.handleHeartbeat(m)
      return 'ok'
    case MessageType.Snap:
      r.electionElapsed = 0
      r.lead = m.from
      r.handleSnapshot(m)
      return 'ok'
    case MessageType.TransferLeader:
      if (r.lead === NONE) {
        r.logger.info(`${r.id} no leader at term ${r.term}; dropping leader transfer msg`)
        return 'not-leader'
      }
      r.send({ type: MessageType.TransferLeader, to: r.lead, from: m.from })
      return 'ok'
    case MessageType.TimeoutNow:
      // The leader chose us: campaign at once, without pre-vote, and with the transfer flag so
      // that voters disregard their leader lease (Raft thesis §3.10).
      r.logger.info(`${r.id} [term ${r.term}] received MsgTimeoutNow from ${m.from} and starts an election to get leadership`)
      r.hup('transfer')
      return 'ok'
    case MessageType.ReadIndex:
      if (r.lead === NONE) {
        r.logger.info(`${r.id} no leader at term ${r.term}; dropping index reading msg`)
        return 'not-leader'
      }
      // Keep the requester: the request may pass through a node that is not leader any more,
      // and the answer must reach the node that asked.
      r.send({ type: MessageType.ReadIndex, to: r.lead, from: m.from === NONE ? r.id : m.from, context: m.context })
      return 'ok'
    case MessageType.ReadIndexResp:
      r.readStates.push({ index: m.index, context: m.context ?? new Uint8Array(0) })
      return 'ok'
  }
  return 'ok'
}
