// Property tests of the quorum arithmetic against "dumb" reference implementations, in the spirit
// of etcd-io/raft's quorum/quick_test.go: the references enumerate instead of sorting, so that the
// two share no cleverness. Configurations come from a SeededRng, so every run is the same.
import t from 'tap'
import { JointConfig } from '../../lib/raft/quorum/joint.js'
import { MajorityConfig } from '../../lib/raft/quorum/majority.js'
import { VoteResult } from '../../lib/raft/quorum/quorum.js'
import { SeededRng } from '../../lib/raft/rng.js'

const ROUNDS = 2000

/** A random subset of 1..maxId (possibly empty). */
function randomIds(rng: SeededRng, maxId: number, pEach: number): number[] {
  const ids: number[] = []
  for (let id = 1; id <= maxId; id++) if (rng.chance(pEach)) ids.push(id)
  return ids
}

/** Acked indexes for some ids of 1..maxId (absent ones are unknown), including non-members. */
function randomAcked(rng: SeededRng, maxId: number): Map<number, number> {
  const acked = new Map<number, number>()
  for (let id = 1; id <= maxId; id++) {
    if (rng.chance(0.8)) acked.set(id, rng.int(rng.chance(0.3) ? 3 : 20))
  }
  return acked
}

function randomVotes(rng: SeededRng, maxId: number): Map<number, boolean> {
  const votes = new Map<number, boolean>()
  for (let id = 1; id <= maxId; id++) {
    const r = rng.int(3)
    if (r === 1) votes.set(id, true)
    else if (r === 2) votes.set(id, false)
  }
  return votes
}

function isMajority(ids: readonly number[], subset: (id: number) => boolean): boolean {
  let n = 0
  for (const id of ids) if (subset(id)) n++
  return 2 * n > ids.length
}

/**
 * Dumb committed index: try every index any voter holds (and 0); keep the largest one that a
 * majority of the voters holds. An empty configuration imposes no limit (Infinity).
 */
function dumbCommitted(ids: readonly number[], acked: ReadonlyMap<number, number>): number {
  if (ids.length === 0) return Infinity
  const candidates = [0, ...ids.map((id) => acked.get(id) ?? 0)]
  let best = 0
  for (const c of candidates) {
    if (isMajority(ids, (id) => (acked.get(id) ?? 0) >= c) && c > best) best = c
  }
  return best
}

function dumbJointCommitted(inc: readonly number[], out: readonly number[], acked: ReadonlyMap<number, number>): number {
  // The largest index both halves hold by majority: scan every candidate index directly.
  const candidates = [0, ...[...inc, ...out].map((id) => acked.get(id) ?? 0)]
  let best = 0
  for (const c of candidates) {
    const holds = (ids: readonly number[]) => ids.length === 0 || isMajority(ids, (id) => (acked.get(id) ?? 0) >= c)
    if (holds(inc) && holds(out) && c > best) best = c
  }
  if (inc.length === 0 && out.length === 0) return Infinity
  return best
}

/**
 * Dumb vote result by enumerating every way the missing voters could still answer: Won if the
 * votes in hand already make a quorum, Lost if no completion does, Pending otherwise.
 */
function dumbVote(wins: (granted: (id: number) => boolean) => boolean, ids: readonly number[], votes: ReadonlyMap<number, boolean>): VoteResult {
  if (wins((id) => votes.get(id) === true)) return VoteResult.Won
  const missing = ids.filter((id) => !votes.has(id))
  for (let mask = 0; mask < 1 << missing.length; mask++) {
    const extra = new Set(missing.filter((_, i) => (mask & (1 << i)) !== 0))
    if (wins((id) => votes.get(id) === true || extra.has(id))) return VoteResult.Pending
  }
  return VoteResult.Lost
}

function dumbMajorityVote(ids: readonly number[], votes: ReadonlyMap<number, boolean>): VoteResult {
  return dumbVote((g) => ids.length === 0 || isMajority(ids, g), ids, votes)
}

function dumbJointVote(inc: readonly number[], out: readonly number[], votes: ReadonlyMap<number, boolean>): VoteResult {
  const all = [...new Set([...inc, ...out])]
  return dumbVote((g) => (inc.length === 0 || isMajority(inc, g)) && (out.length === 0 || isMajority(out, g)), all, votes)
}

t.test('MajorityConfig.committedIndex matches the dumb reference', async (t) => {
  const rng = new SeededRng(101)
  let mismatches = 0
  for (let i = 0; i < ROUNDS; i++) {
    const ids = randomIds(rng, 9, rng.float())
    const acked = randomAcked(rng, 11)
    const got = new MajorityConfig(ids).committedIndex((id) => acked.get(id))
    const want = dumbCommitted(ids, acked)
    if (got !== want) {
      mismatches++
      if (mismatches <= 5) t.fail(`ids=${ids} acked=${JSON.stringify([...acked])}: got ${got}, want ${want}`)
    }
  }
  t.equal(mismatches, 0, `${ROUNDS} random configurations agree`)
})

t.test('MajorityConfig.voteResult matches the dumb reference', async (t) => {
  const rng = new SeededRng(102)
  let mismatches = 0
  const seen = new Set<VoteResult>()
  for (let i = 0; i < ROUNDS; i++) {
    const ids = randomIds(rng, 9, rng.float())
    const votes = randomVotes(rng, 11)
    const got = new MajorityConfig(ids).voteResult(votes)
    const want = dumbMajorityVote(ids, votes)
    seen.add(got)
    if (got !== want) {
      mismatches++
      if (mismatches <= 5) t.fail(`ids=${ids} votes=${JSON.stringify([...votes])}: got ${VoteResult[got]}, want ${VoteResult[want]}`)
    }
  }
  t.equal(mismatches, 0, `${ROUNDS} random elections agree`)
  t.equal(seen.size, 3, 'the generator reaches Won, Lost and Pending')
})

t.test('JointConfig.committedIndex matches the dumb reference', async (t) => {
  const rng = new SeededRng(103)
  let mismatches = 0
  for (let i = 0; i < ROUNDS; i++) {
    const inc = randomIds(rng, 7, rng.float())
    const out = rng.chance(0.2) ? [] : randomIds(rng, 7, rng.float())
    const acked = randomAcked(rng, 9)
    const got = new JointConfig(new MajorityConfig(inc), new MajorityConfig(out)).committedIndex((id) => acked.get(id))
    const want = dumbJointCommitted(inc, out, acked)
    if (got !== want) {
      mismatches++
      if (mismatches <= 5) t.fail(`inc=${inc} out=${out} acked=${JSON.stringify([...acked])}: got ${got}, want ${want}`)
    }
  }
  t.equal(mismatches, 0, `${ROUNDS} random joint configurations agree`)
})

t.test('JointConfig.voteResult matches the dumb reference', async (t) => {
  const rng = new SeededRng(104)
  let mismatches = 0
  const seen = new Set<VoteResult>()
  for (let i = 0; i < ROUNDS; i++) {
    const inc = randomIds(rng, 7, rng.float())
    const out = rng.chance(0.2) ? [] : randomIds(rng, 7, rng.float())
    const votes = randomVotes(rng, 9)
    const got = new JointConfig(new MajorityConfig(inc), new MajorityConfig(out)).voteResult(votes)
    const want = dumbJointVote(inc, out, votes)
    seen.add(got)
    if (got !== want) {
      mismatches++
      if (mismatches <= 5) t.fail(`inc=${inc} out=${out} votes=${JSON.stringify([...votes])}: got ${VoteResult[got]}, want ${VoteResult[want]}`)
    }
  }
  t.equal(mismatches, 0, `${ROUNDS} random joint elections agree`)
  t.equal(seen.size, 3, 'the generator reaches Won, Lost and Pending')
})

t.test('a joint configuration with an empty outgoing half is its incoming half', async (t) => {
  const rng = new SeededRng(105)
  for (let i = 0; i < 300; i++) {
    const ids = randomIds(rng, 7, 0.6)
    const acked = randomAcked(rng, 9)
    const votes = randomVotes(rng, 9)
    const maj = new MajorityConfig(ids)
    const joint = new JointConfig(new MajorityConfig(ids))
    if (joint.isJoint) t.fail(`not joint: ${ids}`)
    if (joint.committedIndex((id) => acked.get(id)) !== maj.committedIndex((id) => acked.get(id))) t.fail(`committed differs for ${ids}`)
    if (joint.voteResult(votes) !== maj.voteResult(votes)) t.fail(`vote differs for ${ids}`)
    // Symmetry: the halves play the same role.
    const swapped = new JointConfig(new MajorityConfig(), new MajorityConfig(ids))
    if (swapped.committedIndex((id) => acked.get(id)) !== maj.committedIndex((id) => acked.get(id))) t.fail(`swapped committed differs for ${ids}`)
  }
  t.pass('300 configurations checked')
})

t.test('joint decisions need both majorities (Raft §6)', async (t) => {
  // Old (1 2 3), new (3 4 5): indexes held by 1, 2 (old majority) but only 3 of the new half.
  const joint = new JointConfig(new MajorityConfig([3, 4, 5]), new MajorityConfig([1, 2, 3]))
  const acked = new Map([[1, 10], [2, 10], [3, 5], [4, 7], [5, 0]])
  t.equal(joint.committedIndex((id) => acked.get(id)), 5, 'limited by the new half: 3 and 4 hold 5')
  t.equal(new MajorityConfig([1, 2, 3]).committedIndex((id) => acked.get(id)), 10, 'the old half alone would say 10')
  t.equal(joint.voteResult(new Map([[1, true], [2, true], [3, false], [4, false]])), VoteResult.Lost, 'old won, new lost')
  t.equal(joint.voteResult(new Map([[1, true], [2, true], [4, true]])), VoteResult.Pending, 'old won, new pending')
  t.equal(joint.voteResult(new Map([[1, true], [3, true], [4, true]])), VoteResult.Won, 'both won')
  t.same(joint.ids(), [1, 2, 3, 4, 5])
  t.ok(joint.has(1) && joint.has(5) && !joint.has(6))
})

t.test('empty configurations', async (t) => {
  t.equal(new MajorityConfig().committedIndex(() => 7), Infinity)
  t.equal(new MajorityConfig().voteResult(new Map()), VoteResult.Won)
  t.equal(new JointConfig().committedIndex(() => 7), Infinity)
  t.equal(new JointConfig().voteResult(new Map([[1, false]])), VoteResult.Won)
  // Unknown acknowledgements count as 0.
  t.equal(new MajorityConfig([1, 2, 3]).committedIndex((id) => (id === 1 ? 9 : undefined)), 0)
})
