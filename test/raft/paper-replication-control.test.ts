// Replication beyond the basic protocol: snapshots and log compaction (Raft §7), flow control
// (etcd-io/raft's inflight window and message size limits, the uncommitted-size bound) and
// proposals made on followers.
import t from 'tap'
import { RaftStorageError } from '../../lib/raft/storage.js'
import { entrySize, MessageType } from '../../lib/raft/types.js'
import { Network } from './network.js'

// ---------------------------------------------------------------------------------------------
// §7 Log compaction and snapshots
// ---------------------------------------------------------------------------------------------

// Raft §7: "the leader must occasionally send snapshots to followers that lag behind. This
// happens when the leader has already discarded the next log entry that it needs to send to a
// follower."
t.test('§7 a follower that needs compacted entries gets a snapshot, then appends resume', async (t) => {
  const net = new Network({ voters: [1, 2, 3] })
  net.elect(1)
  net.isolate(3)
  for (let i = 0; i < 10; i++) net.propose(1, `e${i}`)
  net.stabilize()
  const snapIndex = net.snapshotAndCompact(1)
  t.equal(net.raft(1).log.firstIndex(), snapIndex + 1, 'the leader compacted its log')
  t.ok(net.raft(3).log.lastIndex() < snapIndex, '3 needs entries the leader no longer has')
  net.recover()
  net.clearTrace()
  net.tickAll(3)
  const snaps = net.sent(MessageType.Snap, { from: 1, to: 3 })
  t.equal(snaps.length, 1, 'one snapshot was sent')
  t.equal(snaps[0].snapshot!.metadata.index, snapIndex)
  t.same(snaps[0].snapshot!.metadata.confState.voters, [1, 2, 3], 'carrying the membership')
  t.same(net.node(3).applied, net.node(1).applied, '3 restored the state machine from it')
  t.equal(net.node(3).storage.firstIndex(), snapIndex + 1, '3’s storage starts after the snapshot')
  t.equal(net.raw(1).status().progress!.get(3)!.state, 'replicate', 'the leader replicates to 3 again')

  net.clearTrace()
  net.propose(1, 'after')
  net.stabilize()
  t.ok(net.sent(MessageType.App, { from: 1, to: 3 }).some((m) => m.entries.length > 0), 'appends resumed')
  t.same(net.sent(MessageType.Snap), [], 'no second snapshot')
  t.same(net.node(3).applied.slice(-1), ['after'])
  // The restored follower can itself restart from its storage.
  net.restart(3)
  net.tickAll(2)
  t.same(net.node(3).applied, net.node(1).applied, 'and restarts from the snapshot plus its log')
})

t.test('§7 compaction: entries before the snapshot are gone; followers that need none get appends', async (t) => {
  const net = new Network({ voters: [1, 2, 3] })
  net.elect(1)
  for (let i = 0; i < 5; i++) net.propose(1, `e${i}`)
  net.stabilize()
  const snapIndex = net.snapshotAndCompact(1)
  const log = net.raft(1).log
  t.throws(() => log.term(snapIndex - 1), RaftStorageError, 'compacted terms are unavailable')
  t.equal(log.term(snapIndex), net.raft(2).log.term(snapIndex), 'the snapshot’s own index keeps its term')
  net.clearTrace()
  net.propose(1, 'after')
  net.stabilize()
  t.same(net.sent(MessageType.Snap), [], 'no snapshot for followers that are up to date')
  t.same(net.node(2).applied, net.node(1).applied)
})

t.test('§7 a snapshot that was not delivered is retried once the driver reports the failure', async (t) => {
  const net = new Network({ voters: [1, 2, 3] })
  net.elect(1)
  net.isolate(3)
  for (let i = 0; i < 5; i++) net.propose(1, `e${i}`)
  net.stabilize()
  net.snapshotAndCompact(1)
  net.recover()
  net.drop((m) => m.type === MessageType.Snap)
  net.tickAll(3)
  t.equal(net.dropped.filter((m) => m.type === MessageType.Snap).length, 1, 'the snapshot was lost')
  t.equal(net.raw(1).status().progress!.get(3)!.state, 'snapshot', 'the leader waits for it')
  net.tickAll(3)
  t.equal(net.dropped.filter((m) => m.type === MessageType.Snap).length, 1, 'and sends no other until told')
  net.recover()
  net.raw(1).reportSnapshot(3, false)
  t.equal(net.raw(1).status().progress!.get(3)!.state, 'probe', 'a failure report resumes probing')
  net.tickAll(3)
  t.same(net.node(3).applied, net.node(1).applied, 'the next snapshot got through')
})

// ---------------------------------------------------------------------------------------------
// Flow control
// ---------------------------------------------------------------------------------------------

t.test('flow control: maxInflightMsgs caps the appends awaiting acknowledgement', async (t) => {
  const net = new Network({ voters: [1, 2, 3], config: { maxInflightMsgs: 3 } })
  net.elect(1)
  t.equal(net.raw(1).status().progress!.get(2)!.state, 'replicate')
  net.drop((m) => m.type === MessageType.AppResp && m.from === 2)
  net.clearTrace()
  for (let i = 0; i < 10; i++) {
    t.equal(net.propose(1, `e${i}`), 'ok')
    net.stabilize()
  }
  const toTwo = net.sent(MessageType.App, { from: 1, to: 2 }).filter((m) => m.entries.length > 0)
  t.equal(toTwo.length, 3, 'three appends to 2, then it is paused')
  t.equal(net.sent(MessageType.App, { from: 1, to: 3 }).filter((m) => m.entries.length > 0).length, 10, '3 acknowledges and gets every one')
  const pr = net.raw(1).status().progress!.get(2)!
  t.equal(pr.inflight, 3)
  t.same(net.node(1).applied.length, 10, 'the leader commits with 3')
  net.recover()
  net.tickAll(3)
  t.equal(net.raft(2).log.lastIndex(), net.raft(1).log.lastIndex(), '2 catches up once it acknowledges')
  t.same(net.node(2).applied, net.node(1).applied)
})

t.test('flow control: maxInflightBytes caps the bytes awaiting acknowledgement', async (t) => {
  const net = new Network({ voters: [1, 2, 3], config: { maxInflightBytes: 250 } })
  net.elect(1)
  net.drop((m) => m.type === MessageType.AppResp && m.from === 2)
  net.clearTrace()
  for (let i = 0; i < 10; i++) {
    net.propose(1, 'x'.repeat(100))
    net.stabilize()
  }
  const toTwo = net.sent(MessageType.App, { from: 1, to: 2 }).filter((m) => m.entries.length > 0)
  t.equal(toTwo.length, 3, '100 + 100 + 100 bytes reach the 250-byte window, then 2 is paused')
  net.recover()
  net.tickAll(5)
  t.same(net.node(2).applied, net.node(1).applied, '2 catches up')
})

t.test('flow control: maxSizePerMsg limits the bytes of entries per append', async (t) => {
  const data = 'y'.repeat(10)
  const perEntry = entrySize({ term: 0, index: 0, type: 0, data: new TextEncoder().encode(data) })
  const maxSizePerMsg = 3 * perEntry
  const net = new Network({ voters: [1, 2, 3], config: { maxSizePerMsg } })
  net.elect(1)
  net.isolate(2)
  for (let i = 0; i < 12; i++) net.propose(1, data)
  net.stabilize()
  net.recover()
  net.clearTrace()
  net.tickAll(3)
  const apps = net.sent(MessageType.App, { from: 1, to: 2 }).filter((m) => m.entries.length > 0)
  t.ok(apps.length >= 4, `12 entries took ${apps.length} appends`)
  for (const m of apps) {
    const size = m.entries.reduce((s, e) => s + entrySize(e), 0)
    if (m.entries.length > 1 && size > maxSizePerMsg) t.fail(`an append of ${m.entries.length} entries is ${size} bytes`)
  }
  t.ok(Math.max(...apps.map((m) => m.entries.length)) <= 3, 'at most 3 entries per append')
  t.equal(net.node(2).applied.length, 12)
  // One entry larger than the limit still goes, alone.
  net.clearTrace()
  net.propose(1, 'z'.repeat(10 * maxSizePerMsg))
  net.stabilize()
  t.equal(net.node(2).applied.length, 13, 'an oversized entry is sent on its own')
})

t.test('flow control: maxUncommittedEntriesSize drops proposals past the bound', async (t) => {
  const net = new Network({ voters: [1, 2, 3], config: { maxUncommittedEntriesSize: 100 } })
  net.elect(1)
  net.isolate(2)
  net.isolate(3)
  const results: string[] = []
  for (let i = 0; i < 12; i++) results.push(net.propose(1, 'u'.repeat(10)))
  net.stabilize()
  t.same(results.filter((r) => r === 'ok').length, 10, '10 × 10 bytes fit in 100')
  t.same(results.slice(10), ['proposal-dropped', 'proposal-dropped'], 'the rest are dropped')
  t.equal(net.raft(1).uncommittedSize, 100)
  net.recover()
  net.tickAll(3)
  t.equal(net.node(1).applied.length, 10, 'the accepted ones commit')
  t.equal(net.raft(1).uncommittedSize, 0, 'applying frees the budget')
  t.equal(net.propose(1, 'u'.repeat(10)), 'ok', 'and proposals are accepted again')
  // A single proposal larger than the bound passes when nothing is uncommitted.
  net.stabilize()
  t.equal(net.propose(1, 'v'.repeat(500)), 'ok', 'one large entry is accepted when nothing is uncommitted')
})

// ---------------------------------------------------------------------------------------------
// Proposals on followers
// ---------------------------------------------------------------------------------------------

t.test('a proposal on a follower is forwarded to the leader', async (t) => {
  const net = new Network({ voters: [1, 2, 3] })
  net.elect(1)
  net.clearTrace()
  t.equal(net.propose(2, 'via 2'), 'ok')
  net.stabilize()
  const fwd = net.sent(MessageType.Forward, { from: 2, to: 1 })
  t.equal(fwd.length, 1, 'a Forward message')
  t.equal(fwd[0].term, 0, 'carrying no term')
  for (const id of [1, 2, 3]) t.same(net.node(id).applied, ['via 2'], `node ${id} applied it`)
})

t.test('with disableProposalForwarding a follower refuses with not-leader', async (t) => {
  const net = new Network({ voters: [1, 2, 3], nodeConfig: { 2: { disableProposalForwarding: true } } })
  net.elect(1)
  net.clearTrace()
  const last = net.raft(1).log.lastIndex()
  t.equal(net.propose(2, 'no'), 'not-leader')
  net.stabilize()
  t.same(net.sent(MessageType.Forward), [], 'nothing forwarded')
  t.equal(net.raft(1).log.lastIndex(), last, 'nothing appended')
  t.equal(net.propose(3, 'yes'), 'ok', 'other followers still forward')
})

t.test('a proposal with no leader known is dropped', async (t) => {
  const net = new Network({ voters: [1, 2, 3] })
  t.equal(net.propose(1, 'x'), 'proposal-dropped', 'a follower without a leader')
  net.isolate(1)
  net.raw(1).campaign()
  net.stabilize()
  t.equal(net.raft(1).state, 'pre-candidate')
  t.equal(net.propose(1, 'x'), 'proposal-dropped', 'a pre-candidate')
  const n2 = new Network({ voters: [1, 2, 3], config: { preVote: false } })
  n2.isolate(1)
  n2.raw(1).campaign()
  n2.stabilize()
  t.equal(n2.raft(1).state, 'candidate')
  t.equal(n2.propose(1, 'x'), 'proposal-dropped', 'a candidate')
})

t.test('§7 a snapshot arriving while committed entries are being applied is declined, then resent', async (t) => {
  const net = new Network({ voters: [1, 2, 3] })
  net.elect(1)
  // 3 receives e0 but not the commit index that covers it; then it is cut off.
  net.drop((m) => m.from === 1 && m.to === 3 && !(m.type === MessageType.App && m.entries.length > 0))
  net.propose(1, 'e0')
  net.stabilize()
  net.recover()
  t.equal(net.raft(3).log.lastIndex(), net.raft(1).log.lastIndex(), '3 has e0')
  t.ok(net.raft(3).log.committed < net.raft(3).log.lastIndex(), 'uncommitted on 3')
  net.isolate(3)
  for (let i = 1; i < 5; i++) net.propose(1, `e${i}`)
  net.stabilize()
  const snapIndex = net.snapshotAndCompact(1)
  // The driver saw its messages to 3 fail: the leader goes back to probing 3.
  net.raw(1).reportUnreachable(3)
  t.equal(net.raw(1).status().progress!.get(3)!.state, 'probe')
  net.recover()
  // 3 applies behind its writes: the heartbeat commits e0 there and, while e0 is being applied,
  // the leader's snapshot arrives.
  net.slowApply(3)
  net.clearTrace()
  net.tick(1)
  t.equal(net.sent(MessageType.Snap, { to: 3 }).length, 1, 'a snapshot reached 3')
  t.ok(net.node(3).pendingApply, 'while 3 was applying')
  t.equal(net.node(3).storage.snapshot().metadata.index, 0, '3 declined it')
  net.slowApply(3, false)
  net.finishApply(3)
  net.stabilize()
  t.same(net.node(3).applied, ['e0'], '3 applied e0')
  // The driver reports the snapshot as sent (as lib/node does); the leader probes and resends.
  net.raw(1).reportSnapshot(3, true)
  net.tickAll(3)
  t.equal(net.node(3).storage.snapshot().metadata.index, snapIndex, 'the second snapshot was installed')
  t.same(net.node(3).applied, net.node(1).applied, '3 converged')
})
