import { Inflights } from './inflights.js'

/**
 * How the leader replicates to a follower:
 * - `probe`: the follower's log position is unknown; send one append per heartbeat interval and
 *   wait for its answer to find where the logs match.
 * - `replicate`: the position is known; stream appends optimistically, up to the inflight window.
 * - `snapshot`: the follower needs entries the leader compacted; a snapshot is on its way and no
 *   appends are sent until it is reported done.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot'

/** The leader's view of one follower's log (Raft §5.3 nextIndex and matchIndex, plus flow control). */
export class Progress {
  // Invariant: 0 <= match < next.
  match: number
  next: number
  state: ProgressState = 'probe'
  /** In `snapshot` state: the index of the snapshot being sent. */
  pendingSnapshot = 0
  /**
   * Whether the follower was heard from since the last check-quorum round. A new progress starts
   * active so that a fresh leader does not step down before it could hear anyone.
   */
  recentActive = false
  /** In `probe` state: an append is out and we wait for its answer (or the next heartbeat). */
  probeSent = false
  inflights: Inflights
  isLearner: boolean
  /** The newest heartbeat round this follower acknowledged (for the leader's read lease). */
  ackedRound = 0

  constructor(next: number, inflights: Inflights, isLearner: boolean, match = 0) {
    this.match = match
    this.next = next
    this.inflights = inflights
    this.isLearner = isLearner
  }

  #resetState(state: ProgressState): void {
    this.probeSent = false
    this.pendingSnapshot = 0
    this.state = state
    this.inflights.reset()
  }

  becomeProbe(): void {
    // After a snapshot, the follower is known to hold at least the snapshot: probe from there.
    if (this.state === 'snapshot') {
      const pendingSnapshot = this.pendingSnapshot
      this.#resetState('probe')
      this.next = Math.max(this.match + 1, pendingSnapshot + 1)
    } else {
      this.#resetState('probe')
      this.next = this.match + 1
    }
  }

  becomeReplicate(): void {
    this.#resetState('replicate')
    this.next = this.match + 1
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.#resetState('snapshot')
    this.pendingSnapshot = snapshotIndex
  }

  /**
   * Records that an append carrying `entries` entries (`bytes` of payload) starting at `next` was
   * sent, so that the next one can be sent optimistically in replicate state.
   */
  sentEntries(entries: number, bytes: number): void {
    switch (this.state) {
      case 'replicate':
        if (entries > 0) {
          const last = this.next + entries - 1
          this.next = last + 1
          this.inflights.add(last, bytes)
        }
        break
      case 'probe':
        this.probeSent = true
        break
      case 'snapshot':
        throw new Error('sending append in snapshot state')
    }
  }

  /** An acknowledgement up to `n`. Returns false if it was stale (nothing new acknowledged). */
  maybeUpdate(n: number): boolean {
    let updated = false
    if (this.match < n) {
      this.match = n
      updated = true
      this.probeSent = false
    }
    this.next = Math.max(this.next, n + 1)
    return updated
  }

  /**
   * A rejection of the append at `rejected`; `matchHint` is the highest index that may match.
   * Returns false if the rejection is stale (it answers an append we have already moved past).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      // In replicate, next is optimistic; a rejection at or below match is out of date.
      if (rejected <= this.match) return false
      this.next = this.match + 1
      return true
    }
    // In probe, only the answer to the last probe counts.
    if (this.next - 1 !== rejected) return false
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1, 1)
    this.probeSent = false
    return true
  }

  /** Whether appends to this follower must wait. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent
      case 'replicate':
        return this.inflights.full()
      case 'snapshot':
        return true
    }
  }

  clone(): Progress {
    const p = new Progress(this.next, this.inflights.clone(), this.isLearner, this.match)
    p.state = this.state
    p.pendingSnapshot = this.pendingSnapshot
    p.recentActive = this.recentActive
    p.probeSent = this.probeSent
    p.ackedRound = this.ackedRound
    return p
  }

  toString(): string {
    let s = `${this.state} match=${this.match} next=${this.next}`
    if (this.isLearner) s += ' learner'
    if (this.probeSent) s += ' paused'
    if (this.pendingSnapshot > 0) s += ` pendingSnap=${this.pendingSnapshot}`
    if (!this.recentActive) s += ' inactive'
    if (this.inflights.count > 0) s += ` inflight=${this.inflights.count}`
    return s
  }
}
