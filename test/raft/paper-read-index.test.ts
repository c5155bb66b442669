// Linearizable reads without writing to the log: ReadIndex (Raft §8; thesis §6.4) in safe mode
// (a heartbeat round confirms leadership) and lease-based mode (check-quorum's lease does).
import t from 'tap'
import { MessageType } from '../../lib/raft/types.js'
import { Network, text } from './network.js'

function reads(net: Network, id: number): Array<[number, string]> {
  return net.node(id).readStates.map((rs) => [rs.index, text(rs.context)])
}

// Raft §8: "a leader must have the latest information on which entries are committed ... Raft
// handles this by having each leader commit a blank no-op entry into the log at the start of its
// term." and "a leader must check whether it has been deposed before processing a read-only
// request ... by having the leader exchange heartbeat messages with a majority of the cluster".
t.test('§8 the leader answers a read only once it has committed an entry of its term', async (t) => {
  const net = new Network({ voters: [1, 2, 3] })
  net.drop((m) => m.type === MessageType.AppResp)
  net.campaign(1)
  t.equal(net.raft(1).state, 'leader')
  const emptyEntry = net.raft(1).log.lastIndex()
  t.ok(net.raft(1).log.committed < emptyEntry, 'its empty entry is not committed yet')
  t.equal(net.readIndex(1, 'r1'), 'ok', 'the request is accepted...')
  net.stabilize()
  net.tickAll(3)
  t.same(reads(net, 1), [], '...but not answered')
  net.recover()
  net.tickAll(2)
  t.same(reads(net, 1), [[emptyEntry, 'r1']], 'answered at the commit index of its term')
})

t.test('§8 safe mode: a read needs a heartbeat round acknowledged by a quorum', async (t) => {
  const net = new Network({ voters: [1, 2, 3] })
  net.elect(1)
  net.propose(1, 'w')
  net.stabilize()
  const committed = net.raft(1).log.committed
  net.isolate(2)
  net.isolate(3)
  net.clearTrace()
  net.readIndex(1, 'r1')
  net.stabilize()
  // The round's heartbeats carry a context of the leader's own (requesters' contexts may collide).
  const round = net.dropped.filter((m) => m.type === MessageType.Heartbeat && (m.context?.length ?? 0) > 0)
  t.equal(round.length, 2, 'a heartbeat round carries the read')
  const ctx = text(round[0].context)
  t.same(reads(net, 1), [], 'no answer without acknowledgements')
  net.recover()
  net.isolate(3)
  net.tick(1)
  t.same(reads(net, 1), [[committed, 'r1']], 'the leader and 2 are a quorum')
  t.ok(net.sent(MessageType.HeartbeatResp, { from: 2 }).some((m) => text(m.context) === ctx), 'confirmed by 2’s answer')
})

t.test('§8 safe mode: reads queued together are confirmed by one round, in order', async (t) => {
  const net = new Network({ voters: [1, 2, 3] })
  net.elect(1)
  net.isolate(2)
  net.isolate(3)
  net.readIndex(1, 'a')
  net.readIndex(1, 'b')
  net.stabilize()
  net.recover()
  net.clearTrace()
  net.tick(1)
  const c = net.raft(1).log.committed
  t.same(reads(net, 1), [[c, 'a'], [c, 'b']])
})

t.test('§8 safe mode: a deposed leader cut off from the majority answers no read', async (t) => {
  const net = new Network({ voters: [1, 2, 3], config: { checkQuorum: false } })
  net.elect(1)
  net.isolate(1)
  net.campaign(2)
  t.equal(net.raft(2).state, 'leader', 'a new leader elsewhere')
  net.propose(2, 'new write')
  net.stabilize()
  t.equal(net.raft(1).state, 'leader', '1 still believes it leads')
  net.readIndex(1, 'stale')
  net.tick(1, 20)
  t.same(reads(net, 1), [], 'and cannot serve a stale read')
})

t.test('§8 a follower’s read is forwarded to the leader and answered', async (t) => {
  const net = new Network({ voters: [1, 2, 3] })
  net.elect(1)
  net.propose(1, 'w')
  net.stabilize()
  net.clearTrace()
  t.equal(net.readIndex(2, 'f'), 'ok')
  net.stabilize()
  t.equal(net.sent(MessageType.ReadIndex, { from: 2, to: 1 }).length, 1, 'forwarded')
  t.equal(net.sent(MessageType.ReadIndexResp, { from: 1, to: 2 }).length, 1, 'answered')
  t.same(reads(net, 2), [[net.raft(1).log.committed, 'f']])
  t.same(reads(net, 1), [], 'the leader keeps no read state for it')
  t.ok(net.node(2).appliedIndex >= reads(net, 2)[0][0], 'the follower can serve it once applied')
})

t.test('§8 a node that knows no leader refuses a read', async (t) => {
  const net = new Network({ voters: [1, 2, 3] })
  t.equal(net.readIndex(2, 'x'), 'not-leader')
  net.isolate(1)
  net.raw(1).campaign()
  net.stabilize()
  t.equal(net.readIndex(1, 'y'), 'not-leader', 'a (pre-)candidate refuses too')
})

t.test('§8 a single voter answers without a round, once its term has a commit', async (t) => {
  const net = new Network({ voters: [1] })
  net.elect(1)
  net.clearTrace()
  net.readIndex(1, 'solo')
  net.stabilize()
  t.same(reads(net, 1), [[net.raft(1).log.committed, 'solo']])
  t.equal(net.delivered.length, 0)
})

// Raft §8: "the leader could rely on the heartbeat mechanism to provide a form of lease, but this
// would rely on timing for safety".
/**
 * With lease-based reads, a node that just started grants no vote for an election timeout (it may
 * have promised a lease before a crash). Move every node's clock past that window.
 */
function pastStartupLease(net: Network): void {
  for (const id of [1, 2, 3]) net.raft(id).ticks = net.raft(id).electionTimeout
}

t.test('§8 lease-based: a node that just started grants no vote for an election timeout', async (t) => {
  const net = new Network({ voters: [1, 2, 3], config: { readOnlyOption: 'lease-based' } })
  net.campaign(1)
  t.not(net.raw(1).status().role, 'leader', 'no votes at start')
  pastStartupLease(net)
  net.campaign(1)
  t.equal(net.raw(1).status().role, 'leader', 'votes once the window has passed')
})

t.test('§8 lease-based reads need check-quorum and are answered without a round', async (t) => {
  t.throws(
    () => new Network({ voters: [1, 2, 3], config: { readOnlyOption: 'lease-based', checkQuorum: false } }),
    TypeError,
    'lease-based without check-quorum is refused',
  )
  const net = new Network({ voters: [1, 2, 3], config: { readOnlyOption: 'lease-based' } })
  pastStartupLease(net)
  net.elect(1)
  net.propose(1, 'w')
  net.stabilize()
  // The lease starts with a heartbeat round a quorum acknowledged.
  net.tickAll()
  net.stabilize()
  net.isolate(2)
  net.isolate(3)
  net.clearTrace()
  net.readIndex(1, 'lease')
  net.stabilize()
  t.same(reads(net, 1), [[net.raft(1).log.committed, 'lease']], 'answered at once')
  t.same(net.dropped, [], 'without sending anything')
  net.recover()
  net.clearTrace()
  net.readIndex(3, 'from follower')
  net.stabilize()
  t.same(reads(net, 3), [[net.raft(1).log.committed, 'from follower']])
  t.same(net.sent(MessageType.Heartbeat), [], 'no heartbeat round for a follower’s read either')
})

// Raft §8 / thesis §6.4.1: with a lease, "the leader would use the normal heartbeat mechanism
// to maintain a lease ... it would then serve read-only requests for the duration of the lease
// without additional communication." The lease must end before anyone else can be elected: the
// followers grant no vote within an election timeout of hearing the leader, so the leader's lease
// must be shorter than that, measured from when a quorum last acknowledged it.
t.test('§8 lease-based: a partitioned leader stops answering before a new leader can commit', async (t) => {
  const net = new Network({ voters: [1, 2, 3], config: { readOnlyOption: 'lease-based' } })
  pastStartupLease(net)
  net.elect(1)
  net.propose(1, 'v1')
  net.stabilize()
  // Align with the leader's check-quorum round (every node ticks at the same rate here: no clock
  // drift at all), hear the followers once more, then cut the leader off.
  while (net.raft(1).electionElapsed !== 0) net.tickAll()
  net.tickAll()
  net.isolate(1)
  const stale: string[] = []
  let newLeader: number | undefined
  for (let tick = 1; tick <= 40 && net.raft(1).state === 'leader'; tick++) {
    net.tickAll()
    newLeader ??= [2, 3].find((id) => net.raft(id).state === 'leader')
    if (newLeader === undefined) continue
    net.propose(newLeader, `v2@${tick}`)
    net.stabilize()
    const before = net.node(1).readStates.length
    net.readIndex(1, `r${tick}`)
    net.stabilize()
    for (const rs of net.node(1).readStates.slice(before)) {
      if (rs.index < net.raft(newLeader).log.committed) {
        stale.push(`tick ${tick}: old leader answered at ${rs.index}, new leader ${newLeader} committed ${net.raft(newLeader).log.committed}`)
      }
    }
  }
  t.ok(newLeader !== undefined, `a new leader (${newLeader}) was elected meanwhile`)
  // The lease runs from the sending of the last round a quorum acknowledged and ends a tick short
  // of the followers' (it once ran until the next failed check-quorum, as in etcd-io/raft#166).
  t.same(stale, [], 'no stale lease read')
})

t.test('§8 a read with an empty context is refused or answered, never left pending', async (t) => {
  const net = new Network({ voters: [1, 2, 3] })
  net.elect(1)
  let result: string
  try {
    result = net.raw(1).readIndex(new Uint8Array(0))
  } catch (err) {
    result = err instanceof TypeError ? 'TypeError' : String(err)
  }
  net.tickAll(3)
  // An empty context could never be matched to its answer: it is refused up front.
  t.equal(result, 'TypeError', 'refused with a TypeError')
})

t.test('§8 reads from two followers with the same context are both answered', async (t) => {
  const net = new Network({ voters: [1, 2, 3] })
  net.elect(1)
  net.readIndex(2, 'same')
  net.readIndex(3, 'same')
  net.stabilize()
  net.tickAll(3)
  t.equal(net.node(2).readStates.length, 1, '2 answered')
  // The leader keys each request by its own sequence number, not by the requester's context.
  t.equal(net.node(3).readStates.length, 1, '3 answered')
})
