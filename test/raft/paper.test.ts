// Tests of the Raft core organised by the sections of the Raft paper (Ongaro & Ousterhout, "In
// Search of an Understandable Consensus Algorithm", extended version). Like etcd-io/raft's
// raft_paper_test.go, each test focuses on the sentences it quotes. Membership (§6), ReadIndex
// (§6.4/§8), liveness extensions and flow control live in their own files of this folder, and
// §5.4 (safety, Figure 8) in paper-safety.test.ts.
import t from 'tap'
import { Raft } from '../../lib/raft/raft.js'
import { SeededRng } from '../../lib/raft/rng.js'
import { MessageType, NONE, makeMessage, type Message, type StateRole } from '../../lib/raft/types.js'
import { Network, newRaft, persist, takeMsgs, text } from './network.js'

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
        } else if (type === MessageType.App || type === MessageType.Heartbeat) {
          // A stale leader may never hear a higher-term vote request from us (pre-vote and
          // check-quorum suppress them; a removed leader gets none): tell it our term directly.
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

// ---------------------------------------------------------------------------------------------
// §5.3 Log replication
// ---------------------------------------------------------------------------------------------

// Raft §5.3: "The leader appends the command to its log as a new entry, then issues
// AppendEntries RPCs in parallel to each of the other servers to replicate the entry."
t.test('§5.3 the leader appends a proposal and sends it to every follower', async (t) => {
  const { r } = newRaft({ config: NO_EXTENSIONS })
  r.becomeCandidate()
  r.becomeLeader()
  // Followers are probed at first; pretend both acknowledged the empty entry of the new term.
  for (const id of [2, 3]) r.step(makeMessage({ type: MessageType.AppResp, from: id, to: 1, term: 1, index: 1 }))
  takeMsgs(r)
  r.step(makeMessage({ type: MessageType.Propose, from: 1, entries: [{ term: 0, index: 0, type: 0, data: new Uint8Array([7]) }] }))
  t.same(r.log.lastIndex(), 2)
  t.equal(r.log.term(2), 1, 'appended at the leader’s term')
  t.same(
    takeMsgs(r).map((m) => [m.type, m.to, m.index, m.logTerm, m.entries.map((e) => [e.index, e.term])]),
    [2, 3].map((id) => [MessageType.App, id, 1, 1, [[2, 1]]]),
  )
})

// Raft §5.3: "A log entry is committed once the leader that created the entry has replicated it
// on a majority of the servers ... Once the follower learns that a log entry is committed, it
// applies the entry to its local state machine (in log order)."
t.test('§5.3 an entry commits once on a majority, and followers learn the commit', async (t) => {
  const net = new Network({ voters: [1, 2, 3, 4, 5], config: NO_EXTENSIONS })
  net.elect(1)
  net.isolate(4)
  net.isolate(5)
  net.propose(1, 'a')
  net.stabilize()
  t.same(net.node(1).applied, ['a'], 'committed on 3 of 5')
  for (const id of [2, 3]) {
    t.same(net.node(id).applied, ['a'], `follower ${id} learned the commit and applied`)
    t.equal(net.raft(id).log.committed, net.raft(1).log.committed)
  }
  t.same(net.node(4).applied, [], 'the isolated ones did not')

  net.isolate(3)
  net.propose(1, 'b')
  net.stabilize()
  const lastIndex = net.raft(1).log.lastIndex()
  t.equal(net.raft(2).log.lastIndex(), lastIndex, 'replicated on 2 of 5')
  t.ok(net.raft(1).log.committed < lastIndex, 'but not committed')
  t.same(net.node(1).applied, ['a'])

  net.recover()
  net.tickAll(2)
  t.equal(net.raft(1).log.committed, lastIndex, 'committed once a majority has it')
  for (const id of net.ids()) t.same(net.node(id).applied, ['a', 'b'], `node ${id} applied both, in order`)
})

// Raft §5.3: "When sending an AppendEntries RPC, the leader includes the index and term of the
// entry in its log that immediately precedes the new entries. If the follower does not find an
// entry in its log with the same index and term, then it refuses the new entries." ... "If an
// existing entry conflicts with a new one (same index but different terms), delete the existing
// entry and all that follow it" (Figure 2).
t.test('§5.3 the follower consistency check', async (t) => {
  const app = (index: number, logTerm: number, ents: Array<[number, number]>, commit = 0) =>
    makeMessage({
      type: MessageType.App,
      from: 2,
      to: 1,
      term: 3,
      index,
      logTerm,
      commit,
      entries: ents.map(([i, term]) => ({ index: i, term, type: 0, data: new Uint8Array(0) })),
    })
  const cases: Array<{ name: string; m: Message; reject: boolean; wantTerms: number[]; wantIndex?: number; wantCommit?: number }> = [
    { name: 'matching previous entry: append', m: app(3, 2, [[4, 3]]), reject: false, wantTerms: [1, 2, 2, 3], wantIndex: 4 },
    { name: 'previous term differs: refuse', m: app(3, 3, [[4, 3]]), reject: true, wantTerms: [1, 2, 2] },
    { name: 'previous entry missing: refuse', m: app(5, 3, [[6, 3]]), reject: true, wantTerms: [1, 2, 2] },
    { name: 'conflict: truncate and replace', m: app(1, 1, [[2, 3]]), reject: false, wantTerms: [1, 3], wantIndex: 2 },
    { name: 'already present: keep the log', m: app(1, 1, [[2, 2]]), reject: false, wantTerms: [1, 2, 2], wantIndex: 2 },
    { name: 'empty append acknowledges the match', m: app(2, 2, []), reject: false, wantTerms: [1, 2, 2], wantIndex: 2 },
    // "If leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index of last new entry)"
    { name: 'commit bounded by the last new entry', m: app(1, 1, [[2, 2]], 3), reject: false, wantTerms: [1, 2, 2], wantIndex: 2, wantCommit: 2 },
    { name: 'commit from the leader', m: app(3, 2, [], 3), reject: false, wantTerms: [1, 2, 2], wantIndex: 3, wantCommit: 3 },
  ]
  for (const c of cases) {
    const { r } = newRaft({ terms: [1, 2, 2], hardState: { term: 3 }, config: NO_EXTENSIONS })
    r.becomeFollower(3, 2)
    r.step(c.m)
    const out = takeMsgs(r)
    t.equal(out.length, 1, `${c.name}: one answer`)
    t.equal(out[0].type, MessageType.AppResp, c.name)
    t.equal(out[0].reject, c.reject, `${c.name}: reject=${c.reject}`)
    if (c.wantIndex !== undefined) t.equal(out[0].index, c.wantIndex, `${c.name}: acknowledged index`)
    const terms: number[] = []
    for (let i = 1; i <= r.log.lastIndex(); i++) terms.push(r.log.term(i))
    t.same(terms, c.wantTerms, `${c.name}: log`)
    t.equal(r.log.committed, c.wantCommit ?? 0, `${c.name}: commit`)
  }
})

/** Every pair of logs agrees up to any index where they hold the same term (Log Matching). */
function logMatchingViolations(net: Network): string[] {
  const out: string[] = []
  const ids = net.ids()
  const logs = new Map(ids.map((id) => [id, net.entries(id)]))
  for (const a of ids) {
    for (const b of ids) {
      if (a >= b) continue
      const la = logs.get(a)!
      const lb = logs.get(b)!
      const byIndexB = new Map(lb.map((e) => [e.index, e]))
      // The highest index where both have an entry of the same term...
      let top = 0
      for (const e of la) if (byIndexB.get(e.index)?.term === e.term) top = Math.max(top, e.index)
      // ...and every earlier entry both hold must be identical.
      for (const e of la) {
        if (e.index > top) break
        const f = byIndexB.get(e.index)
        if (f && (f.term !== e.term || text(f.data) !== text(e.data))) out.push(`${a} and ${b} differ at ${e.index} below matching ${top}`)
      }
    }
  }
  return out
}

// Raft §5.3: "If two entries in different logs have the same index and term, then they store the
// same command. If two entries in different logs have the same index and term, then the logs are
// identical in all preceding entries." Checked after every step of random partitions.
/** Every node's applied commands are a prefix of the longest (State Machine Safety, §5.4.3). */
function stateMachineViolations(net: Network): string[] {
  const nodes = [...net.nodes.values()]
  const longest = nodes.reduce((a, b) => (b.applied.length > a.applied.length ? b : a))
  const out: string[] = []
  for (const n of nodes) {
    for (let i = 0; i < n.applied.length; i++) {
      if (n.applied[i] !== longest.applied[i]) {
        out.push(`node ${n.id} applied ${n.applied[i]} at position ${i}, node ${longest.id} applied ${longest.applied[i]}`)
        break
      }
    }
  }
  return out
}

// Raft §5.4.3: "if a server has applied a log entry at a given index to its state machine, no
// other server will ever apply a different log entry for the same index." Checked with crashes
// (restarts from storage) as well as partitions.
t.test('§5.3 Log Matching and State Machine Safety hold through random partitions and restarts; the logs converge', async (t) => {
  let violations = 0
  for (let seed = 1; seed <= 15; seed++) {
    const rng = new SeededRng(seed)
    const net = new Network({ voters: [1, 2, 3, 4, 5], seed, config: { preVote: seed % 2 === 0, checkQuorum: seed % 2 === 0 } })
    let proposals = 0
    for (let step = 0; step < 150; step++) {
      const r = rng.int(10)
      if (r === 0) {
        net.recover()
        const a = 1 + rng.int(5)
        const b = 1 + rng.int(5)
        if (a !== b) net.cut(a, b)
        if (rng.chance(0.5)) net.isolate(1 + rng.int(5))
      } else if (r === 1) {
        net.restart(1 + rng.int(5))
      } else if (r <= 3) {
        const id = 1 + rng.int(5)
        net.propose(id, `s${seed}-${proposals++}`)
      } else {
        net.tickAll()
      }
      net.stabilize()
      const v = [...logMatchingViolations(net), ...stateMachineViolations(net)]
      if (v.length > 0) {
        violations++
        t.fail(`seed ${seed} step ${step}: ${v[0]}`)
        break
      }
    }
    // Heal. Without pre-vote a node with a stale log may disrupt a few elections, and a proposal
    // may be lost with its leader (it was never committed): retry until one is applied everywhere.
    net.recover()
    let final: string | undefined
    for (let attempt = 0; attempt < 10 && final === undefined; attempt++) {
      net.tickUntil(() => net.leader() !== undefined, 500)
      const data = `final-${attempt}`
      net.propose(net.leader()!, data)
      for (let i = 0; i < 50 && final === undefined; i++) {
        net.tickAll()
        if (net.ids().every((id) => net.node(id).applied.includes(data))) final = data
      }
    }
    if (final === undefined) {
      violations++
      t.fail(`seed ${seed}: the healed cluster did not commit`)
      continue
    }
    const applied = net.node(1).applied
    for (const id of net.ids()) {
      if (JSON.stringify(net.node(id).applied) !== JSON.stringify(applied)) {
        violations++
        t.fail(`seed ${seed}: node ${id} applied differs from node 1's`)
      }
    }
  }
  t.equal(violations, 0, '15 random histories keep Log Matching and State Machine Safety, and converge')
})

// The leader's log of Figure 7 and the six follower logs (a)-(f), as the term of each entry.
const FIGURE_7 = {
  leader: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6],
  a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
  b: [1, 1, 1, 4],
  c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
  d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
  e: [1, 1, 1, 4, 4, 4, 4],
  f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
} as const

// AppResp rejections needed with the term-based hint: the leader skips a whole run of entries
// of one term per round trip, so each case takes at most one rejection (one per conflicting term
// at worst), where one-entry-at-a-time backtracking would take up to 7 (case f).
const FIGURE_7_REJECTIONS = { a: 1, b: 1, c: 0, d: 0, e: 1, f: 1 } as const

// Raft §5.3 and Figure 7: "the leader handles inconsistencies by forcing the followers' logs to
// duplicate its own" ... "If desired, the protocol can be optimized to reduce the number of
// rejected AppendEntries RPCs ... one AppendEntries RPC will be required for each term with
// conflicting entries, rather than one RPC per entry."
t.test('§5.3 Figure 7: every follower log converges to the leader’s with few rejections', async (t) => {
  for (const c of ['a', 'b', 'c', 'd', 'e', 'f'] as const) {
    // Node 3 holds the leader's log too, so that the leader (1) wins whatever 2 votes.
    const net = new Network({
      voters: [1, 2, 3],
      logs: { 1: FIGURE_7.leader, 2: FIGURE_7[c], 3: FIGURE_7.leader },
      term: 7,
      config: NO_EXTENSIONS,
    })
    net.elect(1)
    t.equal(net.raft(1).term, 8, `(${c}) the leader of term 8`)
    const want = [...FIGURE_7.leader, 8]
    t.same(net.logTerms(2), want, `(${c}) the follower's log is the leader's`)
    t.same(net.entries(2).map((e) => text(e.data)), net.entries(1).map((e) => text(e.data)), `(${c}) entry by entry`)
    const rejections = net.sent(MessageType.AppResp, { from: 2 }).filter((m) => m.reject).length
    t.equal(rejections, FIGURE_7_REJECTIONS[c], `(${c}) ${rejections} rejected AppendEntries`)
    const conflictingTerms = new Set(FIGURE_7[c].filter((term, i) => FIGURE_7.leader[i] !== term || i >= FIGURE_7.leader.length)).size
    t.ok(rejections <= Math.max(1, 2 * conflictingTerms), `(${c}) within 2 round trips per conflicting term`)
    t.equal(net.raft(2).log.committed, 11, `(${c}) and commits the leader's entry`)
  }
})

t.test('§5.3 Figure 7 as drawn: one leader and followers (a)-(f) in a 7-node cluster', async (t) => {
  const net = new Network({
    voters: [1, 2, 3, 4, 5, 6, 7],
    logs: { 1: FIGURE_7.leader, 2: FIGURE_7.a, 3: FIGURE_7.b, 4: FIGURE_7.c, 5: FIGURE_7.d, 6: FIGURE_7.e, 7: FIGURE_7.f },
    term: 7,
    config: NO_EXTENSIONS,
  })
  net.elect(1)
  // (c) and (d) have longer logs with later entries and refuse their vote (§5.4.1).
  const refused = net.sent(MessageType.VoteResp, { to: 1 }).filter((m) => m.reject).map((m) => m.from)
  t.same(refused, [4, 5], '(c) and (d) refused to vote')
  const want = [...FIGURE_7.leader, 8]
  for (const id of [2, 3, 4, 5, 6, 7]) t.same(net.logTerms(id), want, `follower ${id} converged`)
  const rejections = net.sent(MessageType.AppResp).filter((m) => m.reject).length
  t.equal(rejections, 4, 'one rejection each for (a), (b), (e), (f)')
  t.equal(net.raft(1).log.committed, 11)
})
