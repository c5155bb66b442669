// Raft §6 (cluster membership changes) through the real Ready loop: learners, one change at a
// time, joint consensus, and a leader removing itself.
import t from 'tap'
import { decodeConfChange, encodeConfChange } from '../../lib/raft/conf-change-codec.js'
import { EntryType, makeMessage, MessageType, type ConfChange, type ConfChangeSingle, type Entry } from '../../lib/raft/types.js'
import { Network, newRaft } from './network.js'

const v = (nodeId: number): ConfChangeSingle => ({ type: 'addVoter', nodeId })
const l = (nodeId: number): ConfChangeSingle => ({ type: 'addLearner', nodeId })
const r = (nodeId: number): ConfChangeSingle => ({ type: 'removeNode', nodeId })
// Without pre-vote and check-quorum, a campaign needs no waiting for leases to expire.
const NO_EXTENSIONS = { preVote: false, checkQuorum: false }

/** Proposes a conf change on the leader, runs it to completion and checks it was accepted. */
function change(net: Network, leader: number, cc: ConfChange): void {
  const res = net.proposeConfChange(leader, cc)
  if (res !== 'ok') throw new Error(`conf change refused: ${res}`)
  net.stabilize()
}

/** A 3-voter cluster led by 1, with 'x' committed. */
function cluster(config: Record<string, unknown> = {}): Network {
  const net = new Network({ voters: [1, 2, 3], config })
  net.elect(1)
  net.propose(1, 'x')
  net.stabilize()
  return net
}

// Raft thesis §4.2.1: new servers join as non-voting members (learners) until they catch up, so
// that they do not make the cluster unavailable while they do.
t.test('§6 a learner is added, receives the log and applies it', async (t) => {
  const net = cluster()
  net.addNode(4)
  change(net, 1, { changes: [l(4)] })
  for (const id of [1, 2, 3, 4]) {
    t.same(net.node(id).confState.voters, [1, 2, 3], `node ${id}: voters`)
    t.same(net.node(id).confState.learners, [4], `node ${id}: learners`)
  }
  t.ok(net.raft(4).isLearner, '4 knows it is a learner')
  t.same(net.node(4).applied, ['x'], 'the learner caught up from index 1')
  net.propose(1, 'y')
  net.stabilize()
  t.same(net.node(4).applied, ['x', 'y'])
})

t.test('§6 a learner neither votes nor campaigns, and its acknowledgement does not commit', async (t) => {
  const net = cluster(NO_EXTENSIONS)
  net.addNode(4)
  change(net, 1, { changes: [l(4)] })
  // Cut from the leader, a learner never campaigns however long it waits.
  net.isolate(4)
  const term = net.raft(4).term
  net.tick(4, 100)
  t.equal(net.raft(4).state, 'follower')
  t.equal(net.raft(4).term, term, 'its term never moved')
  t.equal(net.raft(4).log.lastIndex(), net.raft(1).log.lastIndex())
  net.recover()
  // A candidate does not ask it.
  net.stop(1)
  net.clearTrace()
  net.campaign(2)
  t.equal(net.raft(2).state, 'leader', '2 is elected by 2 and 3')
  t.same(net.sent(MessageType.Vote, { to: 4 }), [], 'no vote request to the learner')
  t.same(net.sent(MessageType.PreVote, { to: 4 }), [], 'no pre-vote request to the learner')
  // Leader 2 with 3 down: 2 of 3 voters are not there, the learner's acknowledgement does not count.
  net.stop(3)
  net.propose(2, 'z')
  net.stabilize()
  t.equal(net.raft(4).log.lastIndex(), net.raft(2).log.lastIndex(), 'the learner has the entry')
  t.notOk(net.node(2).applied.includes('z'), 'but it is not committed: 2 of 3 voters lack it')
})

t.test('§6 a learner is promoted to voter and then counts for the quorum', async (t) => {
  const net = cluster()
  net.addNode(4)
  change(net, 1, { changes: [l(4)] })
  change(net, 1, { changes: [v(4)] })
  for (const id of [1, 2, 3, 4]) t.same(net.node(id).confState.voters, [1, 2, 3, 4], `node ${id}: voters`)
  t.notOk(net.raft(4).isLearner)
  // 4 voters: a quorum is 3, and 4 is part of it.
  net.stop(3)
  net.propose(1, 'with 1 2 4')
  net.stabilize()
  t.ok(net.node(1).applied.includes('with 1 2 4'), '1, 2 and 4 commit')
  net.stop(2)
  net.propose(1, 'with 1 4')
  net.stabilize()
  t.notOk(net.node(1).applied.includes('with 1 4'), '1 and 4 are not a quorum of 4')
})

// Raft §6: a simple change alters one voter, so any majority of the old configuration overlaps
// any majority of the new one.
t.test('§6 a voter is removed; the remaining voters decide without it', async (t) => {
  const net = cluster()
  change(net, 1, { changes: [r(3)] })
  for (const id of [1, 2]) t.same(net.node(id).confState.voters, [1, 2], `node ${id}: voters`)
  t.same(net.node(3).confState.voters, [1, 2], '3 applied its own removal')
  t.notOk(net.raw(1).status().progress!.has(3), 'the leader tracks it no more')
  net.stop(3)
  net.propose(1, 'after')
  net.stabilize()
  t.same(net.node(2).applied, ['x', 'after'], 'committed by 1 and 2')
})

t.test('§6 a leader that removes itself hands leadership over and steps down', async (t) => {
  for (const config of [{}, { preVote: false, checkQuorum: false }]) {
    const name = JSON.stringify(config)
    const net = cluster(config)
    change(net, 1, { changes: [r(1)] })
    t.same(net.node(2).confState.voters, [2, 3], `${name}: 1 was removed`)
    const ticks = net.tickUntil(() => {
      const l = net.leader()
      return l === 2 || l === 3
    }, 50)
    // BUG (reported): the TimeoutNow sent when 1 applies its removal reaches 2 before 2 has
    // applied the same entry, and a node with a committed, unapplied conf change refuses to
    // campaign; the hand-over only happens at 1's retry an election timeout later, and until then
    // nobody takes proposals.
    t.ok(ticks < 3, `${name}: handed over within a heartbeat or two (took ${ticks} ticks)`)
    const leader = net.leader()!
    t.ok(leader === 2 || leader === 3, `${name}: ${leader} took over`)
    t.ok(net.raft(leader).term > net.hardState(1).term - 1, `${name}: at a later term`)
    t.equal(net.propose(leader, 'after'), 'ok')
    net.stabilize()
    t.ok(net.node(2).applied.includes('after') && net.node(3).applied.includes('after'), `${name}: the new leader commits`)
    t.equal(net.propose(1, 'to removed'), 'proposal-dropped', `${name}: the removed node takes no proposals`)
  }
})

t.test('§6 a removed leader stops believing it leads', async (t) => {
  for (const config of [{}, NO_EXTENSIONS]) {
    const name = JSON.stringify(config)
    const net = cluster(config)
    change(net, 1, { changes: [r(1)] })
    net.tickAll(30)
    // BUG (reported): with pre-vote and check-quorum both off, nothing ever tells the removed
    // leader: the successor's vote requests go to the new voters only, and followers ignore its
    // stale heartbeats. It reports role 'leader' forever.
    t.equal(net.raft(1).state, 'follower', `${name}: the removed leader stepped down`)
    t.not(net.raw(1).status().leader, 1, `${name}: and does not name itself leader`)
  }
})

t.test('§6 a removed leader that nobody answers any more steps down once its entries are held by a quorum', async (t) => {
  // Over a real network the others' transports refuse a removed node: it hears nothing, not even
  // the new term. With check-quorum it must not believe it leads forever.
  const net = cluster()
  change(net, 1, { changes: [r(1)] })
  net.isolate(1)
  t.equal(net.raft(1).state, 'leader', 'still leader right after its removal (handing over)')
  net.tickAll(3 * net.raft(1).electionTimeout)
  t.equal(net.raft(1).state, 'follower', 'it stepped down')
  t.equal(net.raw(1).status().leader, 0, 'and names no leader')
  const leader = net.leader()
  t.ok(leader === 2 || leader === 3, `the others elected ${leader}`)
  net.tickAll(3 * net.raft(1).electionTimeout)
  t.equal(net.raft(1).state, 'follower', 'the removed node never campaigns')
})

/** 3 voters led by 1, with 4 and 5 started (empty) and in the joint config (1 4 5)&&(1 2 3). */
function jointCluster(transition: ConfChange['transition'], config: Record<string, unknown> = {}): Network {
  const net = cluster(config)
  net.addNode(4)
  net.addNode(5)
  change(net, 1, { transition, changes: [v(4), v(5), r(2), r(3)] })
  return net
}

// Raft §6: "the cluster first switches to a transitional configuration we call joint consensus"
// ... "Agreement (for elections and entry commitment) requires separate majorities from both the
// old and new configurations."
t.test('§6 joint consensus: entering with several changes; both majorities needed to commit', async (t) => {
  const net = jointCluster('joint-explicit')
  for (const id of [1, 2, 3, 4, 5]) {
    t.same(net.node(id).confState.voters, [1, 4, 5], `node ${id}: incoming`)
    t.same(net.node(id).confState.votersOutgoing, [1, 2, 3], `node ${id}: outgoing`)
  }
  // The old majority alone (1 2 3) cannot commit.
  net.stop(4)
  net.stop(5)
  net.propose(1, 'old only')
  net.stabilize()
  t.notOk(net.node(1).applied.includes('old only'), 'not committed by the old majority alone')
  net.restart(4)
  net.tickAll(2)
  t.ok(net.node(1).applied.includes('old only'), 'committed once the new half has a majority (1 4)')
  // The new majority alone (1 4 5) cannot commit either.
  net.restart(5)
  net.stop(2)
  net.stop(3)
  net.propose(1, 'new only')
  net.tickAll(2)
  t.notOk(net.node(1).applied.includes('new only'), 'not committed by the new majority alone')
  net.restart(3)
  net.tickAll(2)
  t.ok(net.node(1).applied.includes('new only'), 'committed once the old half has a majority (1 3)')
})

t.test('§6 joint consensus: elections need both majorities', async (t) => {
  const net = jointCluster('joint-explicit', NO_EXTENSIONS)
  net.stop(1)
  net.stop(4)
  net.campaign(5)
  net.campaign(5)
  t.not(net.raft(5).state, 'leader', '5 with 2 and 3 has the old majority only')
  net.restart(4)
  net.campaign(5)
  if (net.raft(5).state !== 'leader') net.campaign(5)
  t.equal(net.raft(5).state, 'leader', 'with 4 too it has both')
})

t.test('§6 joint consensus: explicit leave with an empty ConfChange', async (t) => {
  const net = jointCluster('joint-explicit')
  net.tickAll(5)
  t.same(net.node(1).confState.votersOutgoing, [1, 2, 3], 'an explicit joint config is not left by itself')
  change(net, 1, { changes: [] })
  for (const id of [1, 4, 5]) {
    t.same(net.node(id).confState.voters, [1, 4, 5], `node ${id}: voters`)
    t.same(net.node(id).confState.votersOutgoing, [], `node ${id}: no longer joint`)
  }
  net.stop(2)
  net.stop(3)
  net.propose(1, 'new config')
  net.stabilize()
  t.ok(net.node(1).applied.includes('new config'), '1 4 5 decide alone')
})

t.test('§6 joint consensus: several changes at once are left automatically', async (t) => {
  const net = jointCluster(undefined)
  for (const id of [1, 4, 5]) {
    t.same(net.node(id).confState.voters, [1, 4, 5], `node ${id}: voters`)
    t.same(net.node(id).confState.votersOutgoing, [], `node ${id}: the joint config was left`)
    t.equal(net.node(id).confState.autoLeave, false)
  }
  const ccEntries = net.entries(1).filter((e) => e.type === 1)
  t.equal(ccEntries[ccEntries.length - 1].data.length > 0, true)
  t.same(JSON.parse(new TextDecoder().decode(ccEntries[ccEntries.length - 1].data)).c, [], 'the leader appended the empty leave entry')
})

// Raft §6 / thesis §4.1: one change at a time; etcd-io/raft refuses a change while another is
// pending (appended but not applied) and any change but leaving while joint.
t.test('§6 conf changes are refused while one is pending, and while joint', async (t) => {
  const net = cluster()
  net.addNode(4)
  net.addNode(5)
  t.equal(net.proposeConfChange(1, { changes: [l(4)] }), 'ok')
  t.equal(net.proposeConfChange(1, { changes: [l(5)] }), 'proposal-dropped', 'a second change while the first is unapplied')
  net.stabilize()
  t.same(net.node(1).confState.learners, [4], 'only the first took effect')
  t.equal(net.proposeConfChange(1, { changes: [l(5)] }), 'ok', 'accepted once the first is applied')
  net.stabilize()
  t.equal(net.proposeConfChange(1, { changes: [] }), 'proposal-dropped', 'leaving a joint config that is not joint')
  t.equal(net.proposeConfChange(1, { changes: [v(4), v(5)] }), 'ok', 'two changes enter a joint config (auto)')
  net.stabilize()
  t.same(net.node(1).confState.voters, [1, 2, 3, 4, 5])
  t.same(net.node(1).confState.votersOutgoing, [], 'and left it')
  t.equal(net.proposeConfChange(1, { transition: 'joint-explicit', changes: [r(4), r(5)] }), 'ok')
  net.stabilize()
  t.same(net.node(1).confState.votersOutgoing, [1, 2, 3, 4, 5], 'joint (explicit)')
  t.equal(net.proposeConfChange(1, { changes: [l(2)] }), 'proposal-dropped', 'no other change while joint')
  t.equal(net.proposeConfChange(1, { changes: [] }), 'ok', 'leaving is accepted')
  net.stabilize()
  t.same(net.node(1).confState.votersOutgoing, [])
  // A change that cannot apply never enters the log.
  const last = net.raft(1).log.lastIndex()
  t.equal(net.proposeConfChange(1, { changes: [r(1), r(2), r(3), r(4), r(5)] }), 'proposal-dropped', 'removing every voter')
  t.equal(net.raft(1).log.lastIndex(), last)
})

t.test('§6 a new leader proposes no conf change before applying its predecessors’ entries', async (t) => {
  const net = cluster(NO_EXTENSIONS)
  // 1 replicates an entry but never learns it is committed; then 1 is lost and 2 takes over.
  net.drop((m) => m.type === MessageType.AppResp)
  net.propose(1, 'p')
  net.stabilize()
  t.equal(net.raft(2).log.lastIndex(), net.raft(1).log.lastIndex(), '2 has the entry')
  net.stop(1)
  net.campaign(2)
  t.equal(net.raft(2).state, 'leader')
  net.addNode(4)
  t.equal(net.proposeConfChange(2, { changes: [l(4)] }), 'proposal-dropped', 'refused while entries of earlier terms are unapplied')
  net.recover()
  net.tickAll(2)
  t.ok(net.node(2).applied.includes('p'), 'the earlier entry is applied (committed by the new term’s entry)')
  t.equal(net.proposeConfChange(2, { changes: [l(4)] }), 'ok', 'accepted once they are')
})

t.test('§6 joint consensus can replace the leader; it hands over once the joint config is left', async (t) => {
  const net = cluster()
  net.addNode(4)
  change(net, 1, { changes: [r(1), v(4)] })
  net.tickUntil(() => {
    const l = net.leader()
    return l !== undefined && l !== 1
  }, 50)
  const leader = net.leader()!
  t.ok([2, 3, 4].includes(leader), `${leader} took over`)
  for (const id of [2, 3, 4]) {
    t.same(net.node(id).confState.voters, [2, 3, 4], `node ${id}: new voters`)
    t.same(net.node(id).confState.votersOutgoing, [], `node ${id}: joint config left`)
  }
  net.propose(leader, 'after')
  net.stabilize()
  t.same(net.node(4).applied, ['x', 'after'])
})

t.test('§6 a leader demoted to learner hands over and keeps the log as a learner', async (t) => {
  const net = cluster()
  change(net, 1, { changes: [l(1)] })
  net.tickUntil(() => net.raft(1).state !== 'leader' && net.leader() !== undefined, 50)
  const leader = net.leader()!
  t.ok(leader === 2 || leader === 3, `${leader} took over`)
  t.ok(net.raft(1).isLearner, '1 is a learner')
  net.propose(leader, 'after')
  net.stabilize()
  t.same(net.node(1).applied, ['x', 'after'], 'and still receives the log')
  net.isolate(1)
  net.tick(1, 100)
  t.equal(net.raft(1).state, 'follower', 'and never campaigns')
})

t.test('§6 a node added after compaction catches up from a snapshot that predates it', async (t) => {
  const net = cluster()
  for (let i = 0; i < 5; i++) net.propose(1, `e${i}`)
  net.stabilize()
  net.snapshotAndCompact(1)
  net.addNode(4)
  change(net, 1, { changes: [l(4)] })
  net.tickAll(3)
  t.ok(net.sent(MessageType.Snap, { to: 4 }).length >= 1, '4 got a snapshot')
  t.same(net.node(4).confState.learners, [4], 'then the entry that added it')
  t.same(net.node(4).applied, net.node(1).applied, 'and the whole state')
  change(net, 1, { changes: [v(4)] })
  t.same(net.node(4).confState.voters, [1, 2, 3, 4])
})

t.test('§6 a node does not campaign with a committed conf change it has not applied', async (t) => {
  // Raft thesis §4.1: a server uses the latest configuration in its log; campaigning before
  // applying a committed change could count votes under the wrong configuration.
  const { r } = newRaft({
    terms: [1],
    extraEntries: [{ term: 1, index: 2, type: EntryType.ConfChange, data: encodeConfChange({ changes: [l(4)] }) }],
    hardState: { term: 1, commit: 2 },
    config: NO_EXTENSIONS,
  })
  t.equal(r.log.applied, 0)
  r.step(makeMessage({ type: MessageType.Hup, from: 1 }))
  t.equal(r.state, 'follower', 'refused while the change is unapplied')
  r.log.appliedTo(2)
  r.step(makeMessage({ type: MessageType.Hup, from: 1 }))
  t.equal(r.state, 'candidate', 'campaigns once it is applied')
})

/** Whether an entry is the empty ConfChange that leaves a joint configuration. */
function isLeave(e: Entry): boolean {
  return e.type === EntryType.ConfChange && decodeConfChange(e.data).changes.length === 0
}

/**
 * 1 enters a joint configuration (auto-leave) and crashes before the leave entry it appended
 * reaches anyone. Returns the network with 1 stopped; 2 and 3 are joint with autoLeave.
 */
function orphanedJoint(config: Record<string, unknown>): Network {
  const net = cluster({ ...NO_EXTENSIONS, ...config })
  net.drop((m) => m.type === MessageType.App && m.from === 1 && m.entries.some(isLeave))
  change(net, 1, { changes: [l(4), l(5)] })
  net.stop(1)
  net.recover()
  return net
}

t.test('§6 a new leader leaves the joint config its predecessor entered (auto-leave)', async (t) => {
  const net = orphanedJoint({})
  t.same(net.node(2).confState.votersOutgoing, [1, 2, 3], '2 is joint')
  t.equal(net.node(2).confState.autoLeave, true)
  net.campaign(2)
  t.equal(net.raft(2).state, 'leader')
  for (const id of [2, 3]) {
    t.same(net.node(id).confState.votersOutgoing, [], `node ${id} left the joint config`)
    t.same(net.node(id).confState.learners, [4, 5])
  }
})

t.test('§6 auto-leave must not be refused by the uncommitted size limit', async (t) => {
  const net = orphanedJoint({ maxUncommittedEntriesSize: 100 })
  // 2 is elected but does not hear acknowledgements yet: its empty entry is uncommitted.
  net.drop((m) => m.type === MessageType.AppResp)
  net.campaign(2)
  t.equal(net.raft(2).state, 'leader')
  // A large proposal is accepted because nothing else is uncommitted.
  t.equal(net.propose(2, 'b'.repeat(1000)), 'ok')
  net.stabilize()
  // The empty entry commits (and is applied) while the large one does not: applying it is when
  // the leader proposes to leave the joint config.
  net.recover()
  net.filter((m) => (m.type === MessageType.App && m.from === 2 ? { ...m, entries: m.entries.filter((e) => e.data.length < 1000) } : m))
  let thrown: unknown
  try {
    net.tick(2)
  } catch (err) {
    thrown = err
  }
  // Membership entries do not count toward the uncommitted bound, so the leave entry is always
  // accepted (it once made advance() throw).
  t.equal(thrown, undefined, 'advance() does not throw')
  if (thrown === undefined) {
    net.recover()
    net.tickAll(3)
    t.same(net.node(2).confState.votersOutgoing, [], 'the joint config is left')
  } else {
    t.fail('the joint config is left')
  }
})

t.test('§6 a leader demoted through a joint config votes until it is left, then hands over', async (t) => {
  const net = cluster()
  net.addNode(4)
  // Demote 1 and add 4 at once: 1 goes to learnersNext while joint.
  net.drop((m) => m.type === MessageType.App && m.from === 1 && m.entries.some(isLeave))
  change(net, 1, { changes: [l(1), v(4)] })
  t.same(net.node(1).confState.learnersNext, [1], 'joint: 1 becomes a learner when it is left')
  t.equal(net.raft(1).state, 'leader', '1 still leads while joint (it votes in the outgoing half)')
  net.recover()
  net.tickUntil(() => net.leader() !== undefined && net.leader() !== 1, 50)
  const leader = net.leader()!
  t.ok([2, 3, 4].includes(leader), `${leader} took over`)
  t.same(net.node(leader).confState.learners, [1])
  t.same(net.node(leader).confState.voters, [2, 3, 4])
  t.ok(net.raft(1).isLearner)
})
