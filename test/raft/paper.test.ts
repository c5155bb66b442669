// Tests of the Raft core organised by the sections of the Raft paper (Ongaro & Ousterhout, "In
// Search of an Understandable Consensus Algorithm", extended version). Like etcd-io/raft's
// raft_paper_test.go, each test focuses on the sentences it quotes. Membership (§6), ReadIndex
// (§6.4/§8), liveness extensions and flow control live in their own files of this folder.
import t from 'tap'
import { Raft } from '../../lib/raft/raft.js'
import { SeededRng } from '../../lib/raft/rng.js'
import { MessageType, NONE, makeMessage, type Message, type StateRole } from '../../lib/raft/types.js'
import { Network, newRaft, persist, takeMsgs } from './network.js'

const NO_EXTENSIONS = { preVote: false, checkQuorum: false }

// ---------------------------------------------------------------------------------------------
// §5.1 Raft basics: terms
// ---------------------------------------------------------------------------------------------

/** Puts a bare Raft (voters 1 2 3, id 1) in a role at term 2. */
function inRole(role: StateRole, config: Record<string, unknown> = NO_EXTENSIONS) {
  const o = newRaft({ hardState: { term: 1 }, config })
  const r = o.r
  switch (role) {
    case 'follower':
      r.becomeFollower(2, NONE)
      break
    case 'pre-candidate':
      r.becomeFollower(2, NONE)
      r.becomePreCandidate()
      break
    case 'candidate':
      r.becomeFollower(1, NONE)
      r.becomeCandidate()
      break
    case 'leader':
      r.becomeFollower(1, NONE)
      r.becomeCandidate()
      r.becomeLeader()
      break
  }
  if (r.term !== 2 || r.state !== role) throw new Error(`setup: ${r.state} at ${r.term}`)
  takeMsgs(r)
  return o
}

const ROLES: StateRole[] = ['follower', 'pre-candidate', 'candidate', 'leader']

// Raft §5.1: "If one server's current term is smaller than the other's, then it updates its
// current term to the larger value. If a candidate or leader discovers that its term is out of
// date, it immediately reverts to follower state."
t.test('§5.1 every message with a higher term updates the term and makes the node a follower', async (t) => {
  const types: Array<{ type: MessageType; extra?: Partial<Message>; leader: boolean }> = [
    { type: MessageType.App, leader: true },
    { type: MessageType.Heartbeat, leader: true },
    { type: MessageType.Snap, leader: true },
    { type: MessageType.Vote, leader: false },
    { type: MessageType.AppResp, leader: false },
    { type: MessageType.VoteResp, extra: { reject: true }, leader: false },
    { type: MessageType.PreVoteResp, extra: { reject: true }, leader: false },
    { type: MessageType.HeartbeatResp, leader: false },
    { type: MessageType.TimeoutNow, leader: false },
    { type: MessageType.ReadIndexResp, leader: false },
  ]
  for (const role of ROLES) {
    for (const { type, extra, leader } of types) {
      const { r } = inRole(role)
      r.step(makeMessage({ type, from: 2, to: 1, term: 5, ...extra }))
      const what = `${role} stepping ${MessageType[type]} at term 5`
      if (type === MessageType.TimeoutNow) {
        // The node becomes a follower at term 5, then obeys the TimeoutNow as a follower does: it
        // campaigns at once, at term 6 (as in etcd-io/raft).
        t.equal(r.state, 'candidate', `${what}: campaigns`)
        t.equal(r.term, 6, `${what}: from the updated term`)
        continue
      }
      t.equal(r.term, 5, `${what}: term updated`)
      t.equal(r.state, 'follower', `${what}: follower`)
      t.equal(r.lead, leader ? 2 : NONE, `${what}: leader ${leader ? 'is the sender' : 'unknown'}`)
    }
  }
})

// Raft thesis §9.6 (pre-vote): a pre-vote round never changes anyone's term.
t.test('§5.1 a PreVote (or granted PreVoteResp) with a higher term does not change the term', async (t) => {
  for (const role of ROLES) {
    const { r } = inRole(role)
    r.step(makeMessage({ type: MessageType.PreVote, from: 2, to: 1, term: 5, index: 100, logTerm: 100 }))
    t.equal(r.term, 2, `${role}: term kept on PreVote`)
    t.equal(r.state, role, `${role}: role kept on PreVote`)
    const resp = takeMsgs(r).find((m) => m.type === MessageType.PreVoteResp)
    t.ok(resp, `${role}: the PreVote is answered`)
    t.equal(resp?.term, 5, `${role}: the answer carries the pre-vote's term`)
  }
  const { r } = inRole('follower')
  r.step(makeMessage({ type: MessageType.PreVoteResp, from: 2, to: 1, term: 3 }))
  t.equal(r.term, 2, 'a stray granted PreVoteResp does not move a follower')
})

// Raft §5.1: "If a server receives a request with a stale term number, it rejects the request."
t.test('§5.1 stale-term messages are rejected or ignored', async (t) => {
  const stale: MessageType[] = [
    MessageType.App,
    MessageType.Heartbeat,
    MessageType.Snap,
    MessageType.Vote,
    MessageType.PreVote,
    MessageType.AppResp,
    MessageType.VoteResp,
    MessageType.HeartbeatResp,
    MessageType.TimeoutNow,
  ]
  for (const config of [NO_EXTENSIONS, { preVote: true, checkQuorum: true }]) {
    for (const role of ROLES) {
      for (const type of stale) {
        const { r } = inRole(role, config)
        const vote = r.vote
        r.step(makeMessage({ type, from: 2, to: 1, term: 1 }))
        const what = `${role} (preVote=${config.preVote}) stepping ${MessageType[type]} at term 1`
        t.equal(r.term, 2, `${what}: term kept`)
        t.equal(r.state, role, `${what}: role kept`)
        t.equal(r.vote, vote, `${what}: vote kept`)
        const out = takeMsgs(r)
        if (type === MessageType.PreVote || type === MessageType.Vote) {
          // The (pre-)candidate learns our term from the rejection.
          const resp = type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp
          t.same(out.map((m) => [m.type, m.to, m.term, m.reject]), [[resp, 2, 2, true]], `${what}: rejected with our term`)
        } else if (config.preVote && (type === MessageType.App || type === MessageType.Heartbeat)) {
          // With pre-vote or check-quorum, a stale leader would never hear a higher-term vote
          // request from us: tell it our term directly.
          t.same(out.map((m) => [m.type, m.to, m.term]), [[MessageType.AppResp, 2, 2]], `${what}: answered with our term`)
        } else {
          t.same(out, [], `${what}: ignored`)
        }
      }
    }
  }
})

// Raft §5.1: "If a candidate or leader discovers that its term is out of date, it immediately
// reverts to follower state." The stale leader of a healed partition learns the new term from
// the answers to its own appends.
t.test('§5.1 a stale leader learns the new term from the AppResp sent back', async (t) => {
  const net = new Network({ voters: [1, 2, 3] })
  net.elect(1)
  const oldTerm = net.raft(1).term
  net.isolate(1)
  // 2 and 3 stop hearing from 1 and elect a new leader; 1 does not tick, so it keeps leading.
  for (let i = 0; i < 100 && net.leader() === 1; i++) {
    net.raw(2).tick()
    net.raw(3).tick()
    net.stabilize()
  }
  const newLeader = net.leader()
  t.ok(newLeader === 2 || newLeader === 3, `a new leader was elected (${newLeader})`)
  const newTerm = net.raft(newLeader!).term
  t.ok(newTerm > oldTerm)
  t.equal(net.raft(1).state, 'leader', 'the isolated leader still believes it leads')
  net.recover()
  net.clearTrace()
  t.equal(net.propose(1, 'stale'), 'ok', 'it still accepts a proposal')
  net.stabilize()
  t.equal(net.raft(1).state, 'follower', 'it stepped down')
  t.equal(net.raft(1).term, newTerm, 'to the new term')
  t.ok(net.sent(MessageType.AppResp, { to: 1 }).some((m) => m.term === newTerm), 'learned from an AppResp')
  t.same(net.sent(MessageType.Vote, { to: 1 }), [], 'no vote request told it')
  net.tickAll(3)
  t.notOk(
    net.ids().some((id) => net.node(id).applied.includes('stale')),
    'the stale leader’s proposal is never applied',
  )
  t.equal(net.leader(), newLeader, 'the new leader is undisturbed')
})

// ---------------------------------------------------------------------------------------------
// §5.2 Leader election
// ---------------------------------------------------------------------------------------------

// Raft §5.2: "If a follower receives no communication over a period of time called the election
// timeout, then it assumes there is no viable leader and begins an election to choose a new
// leader." ... "election timeouts are chosen randomly from a fixed interval".
t.test('§5.2 a follower campaigns after a random timeout in [electionTimeout, 2*electionTimeout)', async (t) => {
  const et = 10
  const seen = new Set<number>()
  for (let seed = 1; seed <= 100; seed++) {
    const { r } = newRaft({ seed, config: { ...NO_EXTENSIONS, electionTick: et } })
    let ticks = 0
    while (r.state === 'follower' && ticks < 100) {
      r.tick()
      ticks++
    }
    seen.add(ticks)
    if (ticks < et || ticks >= 2 * et) t.fail(`seed ${seed}: campaigned after ${ticks} ticks`)
    if (r.state !== 'candidate') t.fail(`seed ${seed}: became ${r.state}`)
  }
  t.ok(seen.size >= 5, `the timeout is randomized (${[...seen].sort((a, b) => a - b).join(',')})`)
  // A candidate that times out starts a new election, again after a random timeout.
  const { r } = newRaft({ config: { ...NO_EXTENSIONS, electionTick: et } })
  r.becomeCandidate()
  let ticks = 0
  while (r.term === 1 && ticks < 100) {
    r.tick()
    ticks++
  }
  t.ok(ticks >= et && ticks < 2 * et, `a stuck candidate retries after ${ticks} ticks`)
  t.equal(r.term, 2, 'at a new term')
  t.equal(r.state, 'candidate')
})

// Raft §5.2: "Leaders send periodic heartbeats ... to all followers in order to maintain their
// authority."
t.test('§5.2 a leader sends heartbeats; followers that hear them never campaign', async (t) => {
  const { r } = newRaft({ config: { ...NO_EXTENSIONS, heartbeatTick: 2 } })
  r.becomeCandidate()
  r.becomeLeader()
  takeMsgs(r)
  r.tick()
  t.same(takeMsgs(r), [], 'nothing before the heartbeat interval')
  r.tick()
  t.same(
    takeMsgs(r).map((m) => [m.type, m.to, m.term]),
    [
      [MessageType.Heartbeat, 2, 1],
      [MessageType.Heartbeat, 3, 1],
    ],
  )
  const net = new Network({ voters: [1, 2, 3], config: NO_EXTENSIONS })
  net.elect(1)
  const term = net.raft(1).term
  net.tickAll(200)
  t.equal(net.leader(), 1, 'the leader kept its authority')
  t.equal(net.raft(2).term, term, 'no election happened')
  t.equal(net.raft(3).term, term)
})

// Raft §5.2: "To begin an election, a follower increments its current term and transitions to
// candidate state. It then votes for itself and issues RequestVote RPCs in parallel to each of
// the other servers in the cluster."
t.test('§5.2 a candidate increments its term, votes for itself and asks every other voter', async (t) => {
  const { r } = newRaft({ voters: [1, 2, 3, 4, 5], terms: [1, 1, 2], hardState: { term: 2 }, learners: [6], config: NO_EXTENSIONS })
  r.step(makeMessage({ type: MessageType.Hup, from: 1 }))
  t.equal(r.state, 'candidate')
  t.equal(r.term, 3)
  t.equal(r.vote, 1)
  t.same(
    takeMsgs(r).map((m) => [m.type, m.to, m.term, m.index, m.logTerm]),
    [2, 3, 4, 5].map((id) => [MessageType.Vote, id, 3, 3, 2]),
    'one Vote per other voter (none to the learner) with the last index and term',
  )
})

// Raft §5.2: "A candidate wins an election if it receives votes from a majority of the servers
// in the full cluster for the same term."
t.test('§5.2 a candidate wins with a majority, and only with a majority', async (t) => {
  for (const preVote of [false, true]) {
    const net = new Network({ voters: [1, 2, 3, 4, 5], config: { preVote, checkQuorum: false } })
    net.isolate(4)
    net.isolate(5)
    net.campaign(1)
    t.equal(net.raft(1).state, 'leader', `preVote=${preVote}: 3 of 5 votes win`)

    const net2 = new Network({ voters: [1, 2, 3, 4, 5], config: { preVote, checkQuorum: false } })
    net2.isolate(3)
    net2.isolate(4)
    net2.isolate(5)
    net2.campaign(1)
    t.equal(net2.raft(1).state, preVote ? 'pre-candidate' : 'candidate', `preVote=${preVote}: 2 of 5 votes do not`)
    net2.recover()
    net2.tickUntil(() => net2.leader() !== undefined)
    t.ok(net2.leader() !== undefined, `preVote=${preVote}: once healed an election succeeds`)
  }
})

// Raft §5.2: "If the AppendEntries RPC is received from the new leader and the leader's term is
// at least as large as the candidate's current term, then the candidate recognizes the leader as
// legitimate and returns to follower state."
t.test('§5.2 a candidate recognises a leader of its term', async (t) => {
  for (const type of [MessageType.App, MessageType.Heartbeat]) {
    const { r } = newRaft({ config: NO_EXTENSIONS })
    r.becomeCandidate()
    r.step(makeMessage({ type, from: 2, to: 1, term: r.term }))
    t.equal(r.state, 'follower', MessageType[type])
    t.equal(r.lead, 2)
    t.equal(r.term, 1)
  }
  // "If the term in the RPC is smaller than the candidate's current term, then the candidate
  // rejects the RPC and continues in candidate state."
  const { r } = newRaft({ hardState: { term: 4 }, config: NO_EXTENSIONS })
  r.becomeCandidate()
  r.step(makeMessage({ type: MessageType.App, from: 2, to: 1, term: 4 }))
  t.equal(r.state, 'candidate')
  t.equal(r.term, 5)
})

// Raft §5.2: "if many followers become candidates at the same time, votes could be split so that
// no candidate obtains a majority. When this happens, each candidate will time out and start a
// new election by incrementing its term".
t.test('§5.2 a split vote is resolved by a later election', async (t) => {
  const net = new Network({ voters: [1, 2, 3, 4], config: NO_EXTENSIONS })
  // 3 hears only 1's request and 4 only 2's: two votes each, three are needed.
  net.drop((m) => m.type === MessageType.Vote && ((m.from === 1 && m.to === 4) || (m.from === 2 && m.to === 3)))
  net.raw(1).campaign()
  net.raw(2).campaign()
  net.stabilize()
  t.equal(net.raft(1).state, 'candidate', '1 did not win')
  t.equal(net.raft(2).state, 'candidate', '2 did not win')
  t.equal(net.raft(1).term, 2)
  t.equal(net.raft(2).term, 2)
  t.same([net.raft(3).vote, net.raft(4).vote], [1, 2], 'the votes were split')
  net.recover()
  net.tickUntil(() => net.leader() !== undefined, 100)
  const leader = net.leader()!
  t.ok(net.raft(leader).term > 2, `a new election at a later term elected ${leader} at term ${net.raft(leader).term}`)
})

// Raft §5.2: "Each server will vote for at most one candidate in a given term, on a
// first-come-first-served basis". Figure 2: votedFor is persistent state, "updated on stable
// storage before responding to RPCs".
t.test('§5.2 a vote is granted at most once per term, also across a restart', async (t) => {
  const { r, storage } = newRaft({ id: 1, hardState: { term: 1 }, config: NO_EXTENSIONS })
  const vote = (from: number, term: number) => makeMessage({ type: MessageType.Vote, from, to: 1, term, index: 0, logTerm: 0 })
  r.step(vote(2, 2))
  t.same(takeMsgs(r).map((m) => [m.type, m.to, m.reject]), [[MessageType.VoteResp, 2, false]], 'first come is served')
  t.equal(r.vote, 2)
  r.step(vote(3, 2))
  t.same(takeMsgs(r).map((m) => [m.type, m.to, m.reject]), [[MessageType.VoteResp, 3, true]], 'a second candidate of the term is refused')
  r.step(vote(2, 2))
  t.same(takeMsgs(r).map((m) => [m.type, m.to, m.reject]), [[MessageType.VoteResp, 2, false]], 'a repeated request from the same candidate is granted again')

  persist(r, storage)
  t.same(storage.hardState, { term: 2, vote: 2, commit: 0 }, 'the vote is in the hard state')
  const restarted = new Raft({ id: 1, storage, rng: new SeededRng(1), ...NO_EXTENSIONS })
  t.equal(restarted.term, 2)
  t.equal(restarted.vote, 2, 'the vote survives the restart')
  restarted.step(vote(3, 2))
  t.same(takeMsgs(restarted).map((m) => [m.type, m.to, m.reject]), [[MessageType.VoteResp, 3, true]], 'still refused after the restart')
  restarted.step(vote(3, 3))
  t.same(takeMsgs(restarted).map((m) => [m.type, m.to, m.reject]), [[MessageType.VoteResp, 3, false]], 'a new term brings a new vote')
})

t.test('§5.2 a vote survives a restart in a running cluster', async (t) => {
  const net = new Network({ voters: [1, 2, 3], config: NO_EXTENSIONS })
  // 2 grants 1's request; 1 never hears the answer (stays candidate) and 3 never hears the request.
  net.drop((m) => m.type === MessageType.VoteResp || (m.type === MessageType.Vote && m.from === 1 && m.to === 3))
  net.campaign(1)
  t.equal(net.hardState(2).vote, 1, '2 persisted its vote for 1')
  t.equal(net.hardState(2).term, 2)
  net.restart(2)
  net.recover()
  // 3 campaigns at the same term 2, but 2 already voted in it.
  net.campaign(3)
  t.equal(net.raft(3).term, 2)
  t.not(net.raft(3).state, 'leader', '3 could not collect 2’s vote at term 2')
  t.ok(net.sent(MessageType.VoteResp, { from: 2, to: 3 }).every((m) => m.reject), '2 refused 3')
})
