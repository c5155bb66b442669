// Unit tests of membership changes (lib/raft/confchange): the one-voter-at-a-time rule for simple
// changes, joint consensus (Raft §6), the errors, and restoreConfig round trips.
import t from 'tap'
import { Changer, ConfChangeError } from '../../lib/raft/confchange/confchange.js'
import { restoreConfig } from '../../lib/raft/confchange/restore.js'
import { SeededRng } from '../../lib/raft/rng.js'
import { emptyTrackerConfig, ProgressTracker, type ProgressMap, type TrackerConfig } from '../../lib/raft/tracker/tracker.js'
import type { ConfChangeSingle, ConfState } from '../../lib/raft/types.js'

interface State {
  config: TrackerConfig
  progress: ProgressMap
}

const LAST_INDEX = 10

function empty(): State {
  return { config: emptyTrackerConfig(), progress: new Map() }
}

function changer(s: State): Changer {
  return new Changer(s.config, s.progress, LAST_INDEX, 256, 0)
}

function confState(s: State): ConfState {
  const trk = new ProgressTracker(256, 0)
  trk.config = s.config
  trk.progress = s.progress
  return trk.confState()
}

const v = (nodeId: number): ConfChangeSingle => ({ type: 'addVoter', nodeId })
const l = (nodeId: number): ConfChangeSingle => ({ type: 'addLearner', nodeId })
const r = (nodeId: number): ConfChangeSingle => ({ type: 'removeNode', nodeId })

/** Builds a simple configuration one change at a time. */
function build(changes: ConfChangeSingle[]): State {
  let s = empty()
  for (const c of changes) s = changer(s).simple([c])
  return s
}

/** A ConfState with its keys in one order, so that JSON forms compare. */
function canonical(c: ConfState): ConfState {
  return cs([...c.voters], [...c.learners], [...c.votersOutgoing], [...c.learnersNext], c.autoLeave)
}

function cs(voters: number[], learners: number[] = [], votersOutgoing: number[] = [], learnersNext: number[] = [], autoLeave = false): ConfState {
  return { voters, learners, votersOutgoing, learnersNext, autoLeave }
}

t.test('simple: one voter at a time', async (t) => {
  const s = build([v(1), v(2), v(3)])
  t.same(confState(s), cs([1, 2, 3]))
  t.same([...s.progress.keys()].sort(), [1, 2, 3], 'a progress per member')
  const pr = s.progress.get(3)!
  t.equal(pr.next, LAST_INDEX, 'a new member is probed from the last index')
  t.ok(pr.recentActive, 'a new member counts as active until first checked')

  t.throws(() => changer(s).simple([v(4), v(5)]), ConfChangeError, 'two voters added at once')
  t.throws(() => changer(s).simple([r(1), r(2)]), /more than one voter/, 'two voters removed at once')
  t.throws(() => changer(s).simple([r(1), v(4)]), /more than one voter/, 'a swap changes two voters')
  // Several changes are fine as long as the voters differ by at most one.
  const s2 = changer(s).simple([v(4), l(5), l(6)])
  t.same(confState(s2), cs([1, 2, 3, 4], [5, 6]))
  // Adding an existing voter again is a no-op, not an error.
  t.same(confState(changer(s2).simple([v(1)])), confState(s2))
})

t.test('simple: the changer works on a copy', async (t) => {
  const s = build([v(1), v(2)])
  const before = confState(s)
  const prBefore = s.progress.get(2)!
  changer(s).simple([l(2)])
  t.same(confState(s), before, 'the input configuration is unchanged')
  t.equal(prBefore.isLearner, false, 'the input progress is unchanged')
  t.throws(() => changer(s).simple([r(1), r(2)]))
  t.same(confState(s), before, 'a refused change leaves nothing behind')
})

t.test('simple: learners', async (t) => {
  let s = build([v(1), v(2), l(3)])
  t.same(confState(s), cs([1, 2], [3]))
  t.ok(s.progress.get(3)!.isLearner)
  // Promote the learner.
  s = changer(s).simple([v(3)])
  t.same(confState(s), cs([1, 2, 3]))
  t.notOk(s.progress.get(3)!.isLearner, 'promoted')
  // Demote a voter (removes one voter: a simple change).
  s = changer(s).simple([l(1)])
  t.same(confState(s), cs([2, 3], [1]))
  t.ok(s.progress.get(1)!.isLearner)
  // Remove a learner.
  s = changer(s).simple([r(1)])
  t.same(confState(s), cs([2, 3]))
  t.notOk(s.progress.has(1), 'its progress is dropped')
  // Removing an unknown node is a no-op.
  t.same(confState(changer(s).simple([r(9)])), cs([2, 3]))
})

t.test('simple: errors', async (t) => {
  const s = build([v(1)])
  t.throws(() => changer(s).simple([r(1)]), /removed all voters/)
  t.throws(() => changer(s).simple([v(-1)]), /invalid node id/)
  t.throws(() => changer(s).simple([v(1.5)]), /invalid node id/)
  t.throws(() => changer(s).simple([{ type: 'bogus' as 'addVoter', nodeId: 2 }]), /unknown conf change type/)
  t.same(confState(changer(s).simple([v(0)])), cs([1]), 'node id 0 is a no-op')
  t.throws(() => changer(empty()).simple([l(1)]), /removed all voters/, 'a configuration needs a voter')
})

t.test('enterJoint / leaveJoint: replace the whole voter set', async (t) => {
  const s0 = build([v(1), v(2), v(3)])
  const s1 = changer(s0).enterJoint(false, [r(1), r(2), r(3), v(4), v(5), v(6)])
  t.same(confState(s1), cs([4, 5, 6], [], [1, 2, 3]))
  t.ok(s1.config.voters.isJoint)
  t.ok(s1.progress.has(1), 'outgoing voters keep their progress while joint')
  t.throws(() => changer(s1).enterJoint(false, [v(7)]), /already joint/)
  t.throws(() => changer(s1).simple([v(7)]), /in joint config/)
  const s2 = changer(s1).leaveJoint()
  t.same(confState(s2), cs([4, 5, 6]))
  t.same([...s2.progress.keys()].sort(), [4, 5, 6], 'members only in the outgoing half are forgotten')
  t.throws(() => changer(s2).leaveJoint(), /can't leave a non-joint config/)
})

t.test('enterJoint: autoLeave is recorded and cleared on leaving', async (t) => {
  const s0 = build([v(1), v(2), v(3)])
  const s1 = changer(s0).enterJoint(true, [v(4), r(3)])
  t.same(confState(s1), cs([1, 2, 4], [], [1, 2, 3], [], true))
  t.equal(s1.config.autoLeave, true)
  const s2 = changer(s1).leaveJoint()
  t.equal(s2.config.autoLeave, false)
  t.same(confState(s2), cs([1, 2, 4]))
})

t.test('enterJoint: demoting a voter goes through learnersNext', async (t) => {
  const s0 = build([v(1), v(2), v(3)])
  const s1 = changer(s0).enterJoint(false, [l(3), v(4)])
  // 3 still votes in the outgoing half; it becomes a learner when the joint config is left.
  t.same(confState(s1), cs([1, 2, 4], [], [1, 2, 3], [3]))
  t.notOk(s1.progress.get(3)!.isLearner, 'still a voter while joint')
  const s2 = changer(s1).leaveJoint()
  t.same(confState(s2), cs([1, 2, 4], [3]))
  t.ok(s2.progress.get(3)!.isLearner)
  // A learner added while joint (not an outgoing voter) is a learner at once.
  const s3 = changer(s0).enterJoint(false, [l(5), v(4)])
  t.same(confState(s3), cs([1, 2, 3, 4], [5], [1, 2, 3]))
  // Re-promoting a learnersNext member cancels the demotion.
  const s4 = changer(s0).enterJoint(false, [l(3), v(3)])
  t.same(confState(s4), cs([1, 2, 3], [], [1, 2, 3]))
})

t.test('enterJoint: errors', async (t) => {
  t.throws(() => changer(empty()).enterJoint(false, [v(1)]), /zero-voter config joint/)
  const s0 = build([v(1), v(2)])
  t.throws(() => changer(s0).enterJoint(false, [r(1), r(2)]), /removed all voters/)
})

// --- restoreConfig ------------------------------------------------------------------------

function shuffleTake(rng: SeededRng, pool: number[], p: number): number[] {
  return pool.filter(() => rng.chance(p))
}

/** A random valid ConfState: voters non-empty; learners disjoint from every voter set. */
function randomConfState(rng: SeededRng): ConfState {
  const ids = Array.from({ length: 9 }, (_, i) => i + 1)
  let voters = shuffleTake(rng, ids, 0.4)
  if (voters.length === 0) voters = [1 + rng.int(9)]
  const joint = rng.chance(0.5)
  if (!joint) {
    const learners = shuffleTake(rng, ids.filter((id) => !voters.includes(id)), 0.3)
    return cs(voters, learners)
  }
  let outgoing = shuffleTake(rng, ids, 0.4)
  if (outgoing.length === 0) outgoing = [1 + rng.int(9)]
  const learnersNext = shuffleTake(rng, outgoing.filter((id) => !voters.includes(id)), 0.4)
  const learners = shuffleTake(rng, ids.filter((id) => !voters.includes(id) && !outgoing.includes(id)), 0.3)
  return cs(voters, learners, outgoing, learnersNext, rng.chance(0.5))
}

t.test('restoreConfig round-trips random ConfStates', async (t) => {
  const rng = new SeededRng(2024)
  let failures = 0
  let joints = 0
  for (let i = 0; i < 1000; i++) {
    const want = randomConfState(rng)
    if (want.votersOutgoing.length > 0) joints++
    let got: ConfState | string
    try {
      got = canonical(confState(restoreConfig(want, LAST_INDEX, 256, 0, empty())))
    } catch (err) {
      got = String(err)
    }
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      failures++
      if (failures <= 5) t.fail(`restore ${JSON.stringify(want)} gave ${JSON.stringify(got)}`)
    }
  }
  t.equal(failures, 0, '1000 random configurations round-trip')
  t.ok(joints > 300 && joints < 700, `both joint and simple configurations were tried (${joints} joint)`)
})

t.test('restoreConfig marks learners and keeps one progress per member', async (t) => {
  const s = restoreConfig(cs([1, 2], [5], [2, 3, 4], [4], true), LAST_INDEX, 256, 0, empty())
  t.same([...s.progress.keys()].sort(), [1, 2, 3, 4, 5])
  t.ok(s.progress.get(5)!.isLearner)
  t.notOk(s.progress.get(4)!.isLearner, 'learnersNext still votes in the outgoing half')
  t.equal(s.config.autoLeave, true)
  const left = changer(s).leaveJoint()
  t.same(confState(left), cs([1, 2], [4, 5]))
})

t.test('restoreConfig of the empty ConfState is the empty configuration', async (t) => {
  const s = restoreConfig(cs([]), LAST_INDEX, 256, 0, empty())
  t.same(confState(s), cs([]))
  t.equal(s.progress.size, 0)
})
