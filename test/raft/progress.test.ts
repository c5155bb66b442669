// Unit tests of the leader's per-follower replication state (lib/raft/tracker/progress.ts).
import t from 'tap'
import { Inflights } from '../../lib/raft/tracker/inflights.js'
import { Progress, type ProgressState } from '../../lib/raft/tracker/progress.js'

function progress(opts: { state?: ProgressState; match?: number; next?: number; maxInflight?: number; pendingSnapshot?: number } = {}): Progress {
  const p = new Progress(opts.next ?? 1, new Inflights(opts.maxInflight ?? 256, 0), false, opts.match ?? 0)
  if (opts.state === 'replicate') {
    p.becomeReplicate()
    if (opts.next !== undefined) p.next = opts.next
  } else if (opts.state === 'snapshot') {
    p.becomeSnapshot(opts.pendingSnapshot ?? 0)
  }
  return p
}

t.test('a new progress probes', async (t) => {
  const p = progress({ next: 5 })
  t.equal(p.state, 'probe')
  t.equal(p.match, 0)
  t.equal(p.next, 5)
  t.notOk(p.isPaused())
})

t.test('becomeProbe: from replicate, next restarts after match', async (t) => {
  const p = progress({ state: 'replicate', match: 1, next: 5 })
  p.inflights.add(4, 10)
  p.becomeProbe()
  t.equal(p.state, 'probe')
  t.equal(p.match, 1)
  t.equal(p.next, 2)
  t.equal(p.inflights.count, 0, 'inflights are reset')
})

t.test('becomeProbe: from snapshot, next restarts after the snapshot (or match if later)', async (t) => {
  const p = progress({ state: 'snapshot', match: 1, next: 5, pendingSnapshot: 10 })
  p.becomeProbe()
  t.equal(p.state, 'probe')
  t.equal(p.next, 11)
  t.equal(p.pendingSnapshot, 0)

  const q = progress({ state: 'snapshot', match: 20, next: 21, pendingSnapshot: 10 })
  q.becomeProbe()
  t.equal(q.next, 21, 'match beyond the snapshot wins')
})

t.test('becomeReplicate: next restarts after match', async (t) => {
  const p = progress({ match: 1, next: 5 })
  p.probeSent = true
  p.becomeReplicate()
  t.equal(p.state, 'replicate')
  t.equal(p.next, 2)
  t.notOk(p.probeSent)
})

t.test('becomeSnapshot: paused until the snapshot is done', async (t) => {
  const p = progress({ state: 'replicate', match: 3, next: 9 })
  p.becomeSnapshot(12)
  t.equal(p.state, 'snapshot')
  t.equal(p.pendingSnapshot, 12)
  t.ok(p.isPaused())
  t.throws(() => p.sentEntries(1, 10), /snapshot/, 'no appends in snapshot state')
})

t.test('maybeUpdate', async (t) => {
  const cases: Array<{ update: number; wantUpdated: boolean; wantMatch: number; wantNext: number }> = [
    { update: 1, wantUpdated: false, wantMatch: 3, wantNext: 5 }, // stale
    { update: 3, wantUpdated: false, wantMatch: 3, wantNext: 5 }, // duplicate
    { update: 4, wantUpdated: true, wantMatch: 4, wantNext: 5 }, // newer, next unchanged
    { update: 8, wantUpdated: true, wantMatch: 8, wantNext: 9 }, // past next: next follows
  ]
  for (const c of cases) {
    const p = progress({ match: 3, next: 5 })
    p.probeSent = true
    t.equal(p.maybeUpdate(c.update), c.wantUpdated, `update ${c.update}: updated`)
    t.equal(p.match, c.wantMatch, `update ${c.update}: match`)
    t.equal(p.next, c.wantNext, `update ${c.update}: next`)
    t.equal(p.probeSent, !c.wantUpdated, `update ${c.update}: a real acknowledgement unpauses a probe`)
  }
})

t.test('maybeDecrTo in replicate: rejections at or below match are stale', async (t) => {
  const cases = [
    { rejected: 5, hint: 0, want: false, wantNext: 10 }, // == match: stale
    { rejected: 4, hint: 0, want: false, wantNext: 10 }, // < match: stale
    { rejected: 9, hint: 9, want: true, wantNext: 6 }, // > match: back to match + 1
  ]
  for (const c of cases) {
    const p = progress({ state: 'replicate', match: 5, next: 10 })
    t.equal(p.maybeDecrTo(c.rejected, c.hint), c.want, `rejected ${c.rejected}`)
    t.equal(p.next, c.wantNext, `rejected ${c.rejected}: next`)
    t.equal(p.match, 5, 'match never decreases')
  }
})

t.test('maybeDecrTo in probe: only the answer to the last probe counts', async (t) => {
  const cases = [
    // Not the last probe (next - 1 = 9): ignored.
    { match: 0, next: 10, rejected: 5, hint: 5, want: false, wantNext: 10 },
    { match: 0, next: 10, rejected: 10, hint: 5, want: false, wantNext: 10 },
    // The last probe: next = min(rejected, hint + 1), but above match and at least 1.
    { match: 0, next: 10, rejected: 9, hint: 9, want: true, wantNext: 9 },
    { match: 0, next: 10, rejected: 9, hint: 3, want: true, wantNext: 4 },
    { match: 0, next: 10, rejected: 9, hint: 0, want: true, wantNext: 1 },
    { match: 5, next: 10, rejected: 9, hint: 2, want: true, wantNext: 6 },
    { match: 0, next: 1, rejected: 0, hint: 0, want: true, wantNext: 1 },
  ]
  for (const c of cases) {
    const p = progress({ match: c.match, next: c.next })
    p.probeSent = true
    t.equal(p.maybeDecrTo(c.rejected, c.hint), c.want, `${JSON.stringify(c)}`)
    t.equal(p.next, c.wantNext, `${JSON.stringify(c)}: next`)
    t.equal(p.probeSent, !c.want, 'a counted rejection unpauses the probe')
  }
})

t.test('sentEntries and isPaused per state', async (t) => {
  const probe = progress({ next: 3 })
  probe.sentEntries(2, 20)
  t.ok(probe.probeSent, 'a probe waits for its answer')
  t.ok(probe.isPaused())
  t.equal(probe.next, 3, 'probe does not advance next optimistically')

  const rep = progress({ state: 'replicate', match: 2, maxInflight: 2 })
  t.equal(rep.next, 3)
  rep.sentEntries(3, 30)
  t.equal(rep.next, 6, 'replicate advances next optimistically')
  t.equal(rep.inflights.count, 1)
  t.notOk(rep.isPaused())
  rep.sentEntries(0, 0)
  t.equal(rep.inflights.count, 1, 'an empty append takes no slot')
  rep.sentEntries(1, 10)
  t.ok(rep.isPaused(), 'paused when the window is full')
  rep.maybeUpdate(5)
  rep.inflights.freeLE(5)
  t.notOk(rep.isPaused(), 'an acknowledgement reopens the window')
})

t.test('clone copies every field', async (t) => {
  const p = progress({ state: 'replicate', match: 4, next: 5 })
  p.sentEntries(2, 8)
  p.recentActive = true
  const c = p.clone()
  t.same(
    [c.match, c.next, c.state, c.recentActive, c.probeSent, c.pendingSnapshot, c.inflights.count, c.inflights.bytes, c.isLearner],
    [p.match, p.next, p.state, p.recentActive, p.probeSent, p.pendingSnapshot, p.inflights.count, p.inflights.bytes, p.isLearner],
  )
  c.inflights.reset()
  t.equal(p.inflights.count, 1, 'inflights are not shared')
})
