// The Ready/advance contract of RawNode (lib/raft/raw-node.ts): what a Ready holds, in which
// order the driver must act on it, and the durability rule that a leader counts its own entries
// toward a quorum only once they are persisted (advance()).
import t from 'tap'
import { MemoryStorage } from '../../lib/raft/memory-storage.js'
import { RawNode } from '../../lib/raft/raw-node.js'
import { SeededRng } from '../../lib/raft/rng.js'
import { emptyConfState, makeMessage, MessageType } from '../../lib/raft/types.js'
import { bytes, Network, text } from './network.js'

function single(): { raw: RawNode; storage: MemoryStorage } {
  const storage = new MemoryStorage()
  storage.setConfState({ ...emptyConfState(), voters: [1] })
  return { raw: new RawNode({ id: 1, storage, rng: new SeededRng(1) }), storage }
}

t.test('ready() twice without advance(), or advance() without ready(), is a bug', async (t) => {
  const { raw } = single()
  raw.campaign()
  t.ok(raw.hasReady())
  raw.ready()
  t.notOk(raw.hasReady(), 'no Ready while one is outstanding')
  t.throws(() => raw.ready(), /advance/)
  raw.advance()
  t.throws(() => raw.advance(), /ready/)
})

t.test('local message types cannot be stepped from the network', async (t) => {
  const { raw } = single()
  for (const type of [MessageType.Hup, MessageType.Beat, MessageType.Propose, MessageType.Unreachable, MessageType.SnapStatus, MessageType.CheckQuorum]) {
    t.throws(() => raw.step(makeMessage({ type, from: 2, to: 1 })), TypeError, MessageType[type])
  }
})

t.test('responses from unknown nodes are ignored', async (t) => {
  const { raw } = single()
  raw.campaign()
  while (raw.hasReady()) {
    raw.ready()
    raw.advance()
  }
  const before = raw.status()
  raw.step(makeMessage({ type: MessageType.AppResp, from: 9, to: 1, term: 99, index: 5 }))
  t.same(raw.status(), before, 'not even the term moved')
})

// Raft §5.3 and Figure 2 ("Persistent state on all servers ... Updated on stable storage before
// responding to RPCs"): the commit index never claims more than the disks of a quorum hold.
t.test('a single voter commits its own entry only once the driver persisted it', async (t) => {
  const { raw, storage } = single()
  raw.campaign()
  let rd = raw.ready()
  t.equal(rd.softState?.role, 'leader')
  t.equal(rd.entries.length, 1, 'the empty entry of the new term, to persist')
  t.equal(rd.committedEntries.length, 0, 'not committed before it is persisted')
  t.ok(rd.mustSync)
  storage.append(rd.entries)
  storage.setHardState(rd.hardState!)
  raw.advance()
  rd = raw.ready()
  t.same(rd.committedEntries.map((e) => e.index), [1], 'committed once persisted')
  raw.advance()
  raw.propose(bytes('a'))
  rd = raw.ready()
  t.same(rd.entries.map((e) => text(e.data)), ['a'])
  t.same(rd.committedEntries, [])
  storage.append(rd.entries)
  raw.advance()
  rd = raw.ready()
  t.same(rd.committedEntries.map((e) => text(e.data)), ['a'])
  t.equal(rd.hardState?.commit, 2)
  t.equal(rd.mustSync, false, 'a commit index change alone needs no sync')
  raw.advance()
  t.notOk(raw.hasReady())
})

t.test('a leader does not count its own unpersisted entry toward a quorum', async (t) => {
  const net = new Network({ voters: [1, 2, 3] })
  net.elect(1)
  net.isolate(3)
  // 1's Ready is persisted and sent, but 1 has not called advance() yet.
  net.slowApply(1)
  net.propose(1, 'a')
  net.stabilize()
  t.equal(net.raft(2).log.lastIndex(), net.raft(1).log.lastIndex(), '2 has the entry and acknowledged it')
  t.ok(net.raft(1).log.committed < net.raft(1).log.lastIndex(), 'one durable copy of three is not a quorum')
  net.slowApply(1, false)
  net.finishApply(1)
  net.stabilize()
  t.equal(net.raft(1).log.committed, net.raft(1).log.lastIndex(), 'committed once the leader’s own write counted')
  t.same(net.node(2).applied, ['a'])
})

t.test('a Ready reports soft and hard state changes only when they change', async (t) => {
  const net = new Network({ voters: [1, 2, 3] })
  net.raw(1).campaign()
  const rd = net.handleReady(1)
  t.same(rd.softState, { leader: 0, role: 'pre-candidate' })
  t.equal(rd.hardState, undefined, 'a pre-vote changes no persistent state')
  t.equal(rd.mustSync, false)
  t.same(rd.messages.map((m) => [m.type, m.to, m.term]), [
    [MessageType.PreVote, 2, 2],
    [MessageType.PreVote, 3, 2],
  ])
  net.stabilize()
  t.equal(net.raft(1).state, 'leader')
  t.same(net.node(1).roles, ['pre-candidate@1', 'candidate@2', 'leader@2'])
  t.same(net.node(2).storage.hardState, { term: 2, vote: 1, commit: net.raft(1).log.committed }, 'votes and commits are persisted')
})

t.test('status() reports progress only on the leader', async (t) => {
  const net = new Network({ voters: [1, 2, 3], learners: [4] })
  net.elect(1)
  const st = net.raw(1).status()
  t.equal(st.role, 'leader')
  t.same([...st.progress!.keys()], [1, 2, 3, 4])
  t.ok(st.progress!.get(4)!.isLearner)
  t.same(st.config, { voters: [1, 2, 3], votersOutgoing: [], learners: [4], learnersNext: [], autoLeave: false })
  t.equal(net.raw(2).status().progress, undefined)
  t.equal(net.raw(2).leader, 1)
})
