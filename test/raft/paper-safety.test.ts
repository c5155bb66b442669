// Raft §5.4 (safety) tests: the election restriction, leader completeness and the commitment
// rule of Figure 8. Part of the paper tests; §5.1-§5.3 are in paper.test.ts.
import t, { type Test } from 'tap'
import { MessageType, makeMessage } from '../../lib/raft/types.js'
import { Network, newRaft, takeMsgs } from './network.js'

const NO_EXTENSIONS = { preVote: false, checkQuorum: false }

// ---------------------------------------------------------------------------------------------
// §5.4 Safety
// ---------------------------------------------------------------------------------------------

// Raft §5.4.1: "Raft determines which of two logs is more up-to-date by comparing the index and
// term of the last entries in the logs. If the logs have last entries with different terms, then
// the log with the later term is more up-to-date. If the logs end with the same term, then
// whichever log is longer is more up-to-date."
t.test('§5.4.1 the election restriction: last term first, then last index', async (t) => {
  // The voter's log ends with index 3 at term 2.
  const cases: Array<[lastIndex: number, lastTerm: number, granted: boolean]> = [
    [3, 2, true], // same
    [4, 2, true], // same term, longer
    [2, 2, false], // same term, shorter
    [1, 3, true], // later term, much shorter
    [10, 1, false], // earlier term, much longer
    [0, 0, false], // empty log
  ]
  for (const type of [MessageType.Vote, MessageType.PreVote]) {
    for (const [index, logTerm, granted] of cases) {
      const { r } = newRaft({ terms: [1, 2, 2], hardState: { term: 2 }, config: NO_EXTENSIONS })
      r.step(makeMessage({ type, from: 2, to: 1, term: 3, index, logTerm }))
      const out = takeMsgs(r)
      t.same(
        out.map((m) => [m.type, m.reject]),
        [[type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp, !granted]],
        `${MessageType[type]} from a log ending at ${index}@${logTerm}: ${granted ? 'granted' : 'refused'}`,
      )
    }
  }
})

// Raft §5.4: "the leader for any given term contains all of the entries committed in previous
// terms" — a node missing committed entries cannot win.
t.test('§5.4.1 a node without every committed entry cannot be elected', async (t) => {
  const net = new Network({ voters: [1, 2, 3], config: NO_EXTENSIONS })
  net.elect(1)
  net.isolate(3)
  net.propose(1, 'x')
  net.stabilize()
  t.same(net.node(1).applied, ['x'], 'committed by 1 and 2')
  net.recover()
  net.stop(1)
  net.campaign(3)
  t.not(net.raft(3).state, 'leader', '3 lacks the committed entry and loses')
  t.ok(net.sent(MessageType.VoteResp, { from: 2, to: 3 }).every((m) => m.reject), '2 refused it')
  net.campaign(2)
  t.equal(net.raft(2).state, 'leader', '2 has it and wins')
  net.tickAll(2)
  t.same(net.node(3).applied, ['x'], 'and the committed entry reaches 3')
})

/**
 * Builds Figure 8 (c) with 5 nodes: S1 leads term 4 and has brought the term-2 entry at index 2
 * to S2 and S3 (a majority), but its own entry of term 4 at index 3 has reached nobody.
 */
function figure8c(t: Test): Network {
  const net = new Network({ voters: [1, 2, 3, 4, 5], logs: { 1: [1], 2: [1], 3: [1], 4: [1], 5: [1] }, term: 1, config: NO_EXTENSIONS })
  // (a) S1 is leader of term 2 and replicates its entry at index 2 to S2 only.
  net.drop((m) => m.type === MessageType.App && m.from === 1 && m.to !== 2)
  net.elect(1)
  t.equal(net.raft(1).term, 2, '(a) S1 leads term 2')
  t.same(net.logTerms(1), [1, 2], '(a) S1')
  t.same(net.logTerms(2), [1, 2], '(a) S2')
  net.recover()
  // (b) S1 crashes; S5 is elected for term 3 by S3, S4 and itself, and appends a different entry
  // at index 2 before crashing itself.
  net.stop(1)
  net.drop((m) => m.type === MessageType.App && m.from === 5)
  net.elect(5)
  t.equal(net.raft(5).term, 3, '(b) S5 leads term 3')
  t.same(net.logTerms(5), [1, 3], '(b) S5')
  net.stop(5)
  net.recover()
  // (c) S1 restarts and is elected for term 4 (its first try, at term 3, fails: S3 and S4 voted
  // in term 3 already). It brings index 2 to S3; the entry of term 4 is held back.
  net.restart(1)
  net.campaign(1)
  net.filter((m) => (m.type === MessageType.App && m.from === 1 ? { ...m, entries: m.entries.filter((e) => e.term < 4) } : m))
  net.drop((m) => m.type === MessageType.App && m.from === 1 && m.to === 4)
  if (net.raft(1).state !== 'leader') net.campaign(1)
  t.equal(net.raft(1).state, 'leader', '(c) S1 leads')
  t.equal(net.raft(1).term, 4, '(c) at term 4')
  t.same(net.logTerms(1), [1, 2, 4], '(c) S1')
  t.same(net.logTerms(2), [1, 2], '(c) S2')
  t.same(net.logTerms(3), [1, 2], '(c) S3')
  t.same(net.logTerms(4), [1], '(c) S4')
  return net
}

// Raft §5.4.2 and Figure 8: "a leader cannot immediately conclude that an entry from a previous
// term is committed once it is stored on a majority of servers." ... "Raft never commits log
// entries from previous terms by counting replicas. Only log entries from the leader's current
// term are committed by counting replicas".
t.test('§5.4.2 Figure 8: an entry of an earlier term is not committed by counting replicas', async (t) => {
  const net = figure8c(t)
  const progress = net.raw(1).status().progress!
  t.same([1, 2, 3].map((id) => progress.get(id)!.match >= 2), [true, true, true], 'S1 knows index 2 is on S1, S2 and S3')
  t.equal(net.raft(1).log.committed, 0, 'yet index 2 (term 2) is not committed')
  for (const id of [2, 3]) t.ok(net.raft(id).log.committed < 2, `S${id} does not consider it committed`)

  // (d) Why: if S1 crashes now, S5 can be elected (by S2, S3, S4) and overwrite index 2.
  net.recover()
  net.stop(1)
  net.restart(5)
  net.campaign(5)
  if (net.raft(5).state !== 'leader') net.campaign(5)
  t.equal(net.raft(5).state, 'leader', '(d) S5 is elected')
  for (const id of [2, 3, 4]) t.same(net.logTerms(id).slice(0, 2), [1, 3], `(d) S${id}'s index 2 is replaced by S5's entry of term 3`)
})

t.test('§5.4.2 Figure 8 (e): once an entry of the current term is on a majority, both commit', async (t) => {
  const net = figure8c(t)
  net.recover()
  net.tickAll(2)
  t.equal(net.raft(1).log.committed, 3, '(e) the term-4 entry reached a majority: index 3 is committed')
  t.same(net.logTerms(2), [1, 2, 4])
  t.same(net.logTerms(3), [1, 2, 4])
  // Now S5 cannot win: a majority has a log ending in term 4.
  net.stop(1)
  net.restart(5)
  for (let i = 0; i < 3; i++) net.campaign(5)
  t.not(net.raft(5).state, 'leader', '(e) S5 cannot be elected any more')
  net.tickUntil(() => net.leader() !== undefined, 200)
  const leader = net.leader()!
  t.not(leader, 5)
  t.same(net.logTerms(leader).slice(0, 3), [1, 2, 4], 'the committed entries survive')
})
