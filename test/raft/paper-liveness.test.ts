// The extensions that keep a cluster available (Raft thesis §9.6 pre-vote, §6.2 check-quorum and
// leader leases, §3.10 leadership transfer), through the real Ready loop.
import t from 'tap'
import { makeMessage, MessageType, NONE } from '../../lib/raft/types.js'
import { Network, newRaft, takeMsgs } from './network.js'

const ELECTION = 10

// Thesis §9.6: "a candidate would first ask other servers whether its log was up-to-date enough
// to get their vote. Only if the candidate believed it could get votes from a majority of the
// cluster would it increment its term and start a normal election."
t.test('pre-vote: a partitioned node rejoining raises no term and does not disrupt the leader', async (t) => {
  for (const checkQuorum of [false, true]) {
    const net = new Network({ voters: [1, 2, 3], config: { preVote: true, checkQuorum } })
    net.elect(1)
    const term = net.raft(1).term
    net.isolate(3)
    net.tick(3, 10 * ELECTION)
    t.equal(net.raft(3).term, term, `checkQuorum=${checkQuorum}: the isolated node kept its term`)
    t.equal(net.raft(3).state, 'pre-candidate', `checkQuorum=${checkQuorum}: it only pre-campaigns`)
    net.recover()
    net.tickAll(3 * ELECTION)
    t.equal(net.leader(), 1, `checkQuorum=${checkQuorum}: the leader is undisturbed`)
    for (const id of [1, 2, 3]) t.equal(net.raft(id).term, term, `checkQuorum=${checkQuorum}: node ${id} at the same term`)
    t.equal(net.raft(3).lead, 1, `checkQuorum=${checkQuorum}: the rejoined node follows the leader`)
  }
})

t.test('without pre-vote (or check-quorum) the rejoining node does disrupt: the contrast', async (t) => {
  const net = new Network({ voters: [1, 2, 3], config: { preVote: false, checkQuorum: false } })
  net.elect(1)
  const term = net.raft(1).term
  net.isolate(3)
  net.tick(3, 10 * ELECTION)
  t.ok(net.raft(3).term > term + 1, 'the isolated node raised its term again and again')
  net.recover()
  net.tickAll(3 * ELECTION)
  t.ok(net.raft(1).term > term, 'the cluster had to move to a new term')
})

t.test('pre-vote: a pre-candidate with a stale term learns the term from a rejection', async (t) => {
  const { r } = newRaft({ hardState: { term: 2 }, config: { preVote: true, checkQuorum: false } })
  r.becomePreCandidate()
  r.step(makeMessage({ type: MessageType.PreVoteResp, from: 2, to: 1, term: 5, reject: true }))
  t.equal(r.term, 5)
  t.equal(r.state, 'follower')
})

// Thesis §6.2: "a leader steps down if an election timeout elapses without a successful round of
// heartbeats to a majority of its cluster".
t.test('check-quorum: a leader that cannot hear a majority steps down within an election timeout', async (t) => {
  for (const after of [0, 3, 7]) {
    const net = new Network({ voters: [1, 2, 3], config: { checkQuorum: true } })
    net.elect(1)
    net.tickAll(after)
    t.equal(net.leader(), 1, 'still leading while connected')
    net.isolate(1)
    let ticks = 0
    while (net.raft(1).state === 'leader' && ticks < 10 * ELECTION) {
      net.tick(1)
      ticks++
    }
    t.equal(net.raft(1).state, 'follower', `isolated after ${after} ticks: stepped down`)
    // The check runs every election timeout; the round under way when it was cut off may still
    // have counted the followers as active, so it takes at most two timeouts.
    t.ok(ticks <= 2 * ELECTION, `isolated after ${after} ticks: stepped down after ${ticks} ticks`)
    t.equal(net.raft(1).lead, NONE)
  }
  const net = new Network({ voters: [1, 2, 3], config: { checkQuorum: true } })
  net.elect(1)
  net.isolate(3)
  net.tickAll(10 * ELECTION)
  t.equal(net.leader(), 1, 'a leader that hears a majority (2) keeps leading')
})

// Thesis §4.2.3: "if a server receives a RequestVote request within the minimum election timeout
// of hearing from a current leader, it does not update its term or grant its vote."
t.test('check-quorum: a follower within its lease ignores a higher-term vote request', async (t) => {
  const { r } = newRaft({ id: 2, hardState: { term: 3 }, config: { checkQuorum: true, preVote: false } })
  r.becomeFollower(3, 1)
  r.tick()
  for (const type of [MessageType.Vote, MessageType.PreVote]) {
    r.step(makeMessage({ type, from: 3, to: 2, term: 9, index: 100, logTerm: 9 }))
    t.same(takeMsgs(r), [], `${MessageType[type]} ignored`)
    t.equal(r.term, 3, `${MessageType[type]}: term kept`)
    t.equal(r.lead, 1, `${MessageType[type]}: leader kept`)
  }
  // A campaign for a leadership transfer is allowed through the lease.
  r.step(makeMessage({ type: MessageType.Vote, from: 3, to: 2, term: 9, index: 100, logTerm: 9, context: new Uint8Array([0x74]) }))
  t.same(takeMsgs(r).map((m) => [m.type, m.reject]), [[MessageType.VoteResp, false]], 'a transfer vote is granted')
  t.equal(r.term, 9)

  // Once the lease expired, an ordinary vote request is considered.
  const { r: r2 } = newRaft({ id: 2, hardState: { term: 3 }, config: { checkQuorum: true, preVote: false } })
  r2.becomeFollower(3, 1)
  r2.electionElapsed = ELECTION
  r2.step(makeMessage({ type: MessageType.Vote, from: 3, to: 2, term: 9, index: 100, logTerm: 9 }))
  t.same(takeMsgs(r2).map((m) => [m.type, m.reject]), [[MessageType.VoteResp, false]], 'granted after the lease')
})

t.test('check-quorum: a candidate stuck at a higher term is freed and the cluster recovers', async (t) => {
  const net = new Network({ voters: [1, 2, 3], config: { checkQuorum: true, preVote: false } })
  net.elect(1)
  net.isolate(1)
  net.isolate(3)
  net.tick(3, 5 * ELECTION)
  t.ok(net.raft(3).term > net.raft(1).term, '3 campaigned alone to a higher term')
  net.recover()
  net.tickUntil(() => {
    const l = net.leader()
    return l !== undefined && net.ids().every((id) => net.raft(id).term === net.raft(l).term && net.raft(id).lead === l)
  }, 20 * ELECTION)
  t.pass(`a leader (${net.leader()}) all agree on, at term ${net.raft(net.leader()!).term}`)
})

// Thesis §3.10: "The prior leader sends a TimeoutNow request to the target server ... the target
// server starts a new election ... its log must be up to date first."
t.test('transfer: to an up-to-date voter, TimeoutNow at once and it wins', async (t) => {
  const net = new Network({ voters: [1, 2, 3] })
  net.elect(1)
  const term = net.raft(1).term
  net.clearTrace()
  t.equal(net.raw(1).transferLeadership(2), 'ok')
  net.stabilize()
  t.equal(net.sent(MessageType.TimeoutNow, { from: 1, to: 2 }).length, 1)
  t.equal(net.leader(), 2, '2 leads')
  t.equal(net.raft(2).term, term + 1, 'at the next term (no pre-vote for a transfer)')
  t.equal(net.raft(1).state, 'follower')
  t.equal(net.raft(1).lead, 2)
})

t.test('transfer: the target is caught up first, then sent TimeoutNow', async (t) => {
  const net = new Network({ voters: [1, 2, 3] })
  net.elect(1)
  net.drop((m) => m.type === MessageType.App && m.to === 3)
  for (let i = 0; i < 5; i++) net.propose(1, `e${i}`)
  net.stabilize()
  t.ok(net.raft(3).log.lastIndex() < net.raft(1).log.lastIndex(), '3 is behind')
  net.recover()
  net.clearTrace()
  net.raw(1).transferLeadership(3)
  net.stabilize()
  const toThree = net.delivered.filter((m) => m.from === 1 && m.to === 3).map((m) => MessageType[m.type])
  t.ok(toThree.indexOf('App') >= 0 && toThree.indexOf('App') < toThree.indexOf('TimeoutNow'), `append before TimeoutNow (${toThree.join(',')})`)
  t.equal(net.leader(), 3)
  t.same(net.node(3).applied, ['e0', 'e1', 'e2', 'e3', 'e4'], 'and nothing committed was lost')
})

t.test('transfer: proposals are dropped while it is under way, and it is aborted after an election timeout', async (t) => {
  const net = new Network({ voters: [1, 2, 3], config: { checkQuorum: false } })
  net.elect(1)
  net.isolate(3)
  net.raw(1).transferLeadership(3)
  net.stabilize()
  t.equal(net.raft(1).leadTransferee, 3, 'a transfer to the unreachable 3 is under way')
  t.equal(net.propose(1, 'during'), 'proposal-dropped', 'proposals are dropped meanwhile')
  net.tick(1, ELECTION - 1)
  t.equal(net.raft(1).leadTransferee, 3, 'still under way before the timeout')
  net.tick(1)
  t.equal(net.raft(1).leadTransferee, NONE, 'aborted after an election timeout')
  t.equal(net.raft(1).state, 'leader', '1 still leads')
  t.equal(net.propose(1, 'after'), 'ok', 'proposals are accepted again')
  net.stabilize()
  t.same(net.node(2).applied, ['after'])
})

t.test('transfer: requests that are ignored, and one made on a follower', async (t) => {
  const net = new Network({ voters: [1, 2, 3], learners: [4] })
  net.elect(1)
  net.raw(1).transferLeadership(1)
  net.stabilize()
  t.equal(net.leader(), 1, 'a transfer to the leader itself is a no-op')
  t.equal(net.raft(1).leadTransferee, NONE)
  net.raw(1).transferLeadership(4)
  net.stabilize()
  t.equal(net.raft(1).leadTransferee, NONE, 'a learner cannot be the target')
  t.equal(net.leader(), 1)
  net.raw(1).transferLeadership(9)
  net.stabilize()
  t.equal(net.leader(), 1, 'an unknown target is ignored')
  // On a follower, the request is forwarded to the leader.
  net.clearTrace()
  net.raw(2).transferLeadership(3)
  net.stabilize()
  t.equal(net.sent(MessageType.TransferLeader, { from: 3, to: 1 }).length, 1, 'forwarded to the leader (on behalf of 3)')
  t.equal(net.leader(), 3)
})

t.test('transfer: a second request for another target replaces the first', async (t) => {
  const net = new Network({ voters: [1, 2, 3], config: { checkQuorum: false } })
  net.elect(1)
  net.isolate(3)
  net.raw(1).transferLeadership(3)
  net.stabilize()
  t.equal(net.raft(1).leadTransferee, 3)
  net.raw(1).transferLeadership(2)
  net.stabilize()
  t.equal(net.leader(), 2, 'the transfer to 2 went through')
})

// A follower with strong evidence that its leader is gone (the driver's transport found the
// leader's process refusing connections) forgets it, and then grants pre-votes at once.
t.test('forget-leader: followers that forgot a dead leader elect a new one without waiting out their lease', async (t) => {
  const net = new Network({ voters: [1, 2, 3], config: { preVote: true, checkQuorum: true } })
  net.elect(1)
  const term = net.raft(1).term
  net.stop(1)
  // Without forgetting, a pre-vote is refused by a follower inside the leader's lease.
  net.campaign(2)
  t.equal(net.raft(2).state, 'pre-candidate', 'node 3 still honours the lease: no election')
  t.equal(net.raft(3).lead, 1)
  t.equal(net.raft(2).term, term, 'no term was raised')
  t.equal(net.raw(3).forgetLeader(), true, 'node 3 forgets leader 1')
  t.equal(net.raft(3).lead, NONE)
  t.equal(net.raft(3).term, term, 'forgetting keeps the term')
  t.equal(net.raft(3).state, 'follower')
  net.campaign(2)
  t.equal(net.leader(), 2, 'node 2 wins at once: node 3 grants the pre-vote and the vote')
  t.equal(net.raft(2).term, term + 1)
})

t.test('forget-leader: a follower that hears from its leader again follows it; nothing else forgets', async (t) => {
  const net = new Network({ voters: [1, 2, 3], config: { preVote: true, checkQuorum: true } })
  net.elect(1)
  t.equal(net.raw(1).forgetLeader(), false, 'a leader has nothing to forget')
  t.equal(net.raw(2).forgetLeader(), true)
  t.equal(net.raw(2).forgetLeader(), false, 'twice: nothing left to forget')
  net.tickAll(3)
  net.propose(1, 'x')
  net.stabilize()
  t.equal(net.raft(2).lead, 1, 'the next append restores the leader')
  t.equal(net.leader(), 1, 'and the leader was not disturbed')
  const { r } = newRaft({ id: 2, hardState: { term: 3 }, config: { preVote: true, checkQuorum: true, readOnlyOption: 'lease-based' } })
  r.becomeFollower(3, 1)
  t.equal(r.forgetLeader(), false, 'lease-based reads: followers keep honouring the lease')
  t.equal(r.lead, 1)
})
