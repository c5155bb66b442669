import { JointConfig } from '../quorum/joint.js'
import { MajorityConfig } from '../quorum/majority.js'
import type { VoteResult } from '../quorum/quorum.js'
import type { ConfState } from '../types.js'
import type { Progress } from './progress.js'

/** A membership configuration: the voters (possibly joint) and the learners. */
export interface TrackerConfig {
  readonly voters: JointConfig
  /**
   * Learners: non-voting members that receive the log.
   * Invariant: learners and voters (both halves) are disjoint.
   */
  readonly learners: ReadonlySet<number>
  /**
   * Voters of the outgoing half that become learners when the joint configuration is left.
   * Invariant: each is in voters.outgoing and not in voters.incoming.
   */
  readonly learnersNext: ReadonlySet<number>
  /** Leave the joint configuration by itself once it is committed. */
  readonly autoLeave: boolean
}

export function emptyTrackerConfig(): TrackerConfig {
  return { voters: new JointConfig(), learners: new Set(), learnersNext: new Set(), autoLeave: false }
}

export type ProgressMap = Map<number, Progress>

function sortedNumbers(s: Iterable<number>): number[] {
  return [...s].sort((a, b) => a - b)
}

/** The leader's view of every member: the configuration, each member's progress and the votes. */
export class ProgressTracker {
  config: TrackerConfig = emptyTrackerConfig()
  progress: ProgressMap = new Map()
  votes = new Map<number, boolean>()
  readonly maxInflight: number
  readonly maxInflightBytes: number

  constructor(maxInflight: number, maxInflightBytes: number) {
    this.maxInflight = maxInflight
    this.maxInflightBytes = maxInflightBytes
  }

  confState(): ConfState {
    return {
      voters: this.config.voters.incoming.sorted(),
      votersOutgoing: this.config.voters.outgoing.sorted(),
      learners: sortedNumbers(this.config.learners),
      learnersNext: sortedNumbers(this.config.learnersNext),
      autoLeave: this.config.autoLeave,
    }
  }

  isSingleton(): boolean {
    return this.config.voters.incoming.size === 1 && !this.config.voters.isJoint
  }

  /** The largest index a quorum of voters has in its log. */
  committed(): number {
    return this.config.voters.committedIndex((id) => this.progress.get(id)?.match)
  }

  /** Visits every member's progress in ascending id order (determinism). */
  visit(fn: (id: number, pr: Progress) => void): void {
    for (const id of sortedNumbers(this.progress.keys())) fn(id, this.progress.get(id)!)
  }

  /** Whether a quorum of voters was heard from recently (check-quorum, Raft §6.2). */
  quorumActive(): boolean {
    const votes = new Map<number, boolean>()
    this.visit((id, pr) => {
      if (!pr.isLearner) votes.set(id, pr.recentActive)
    })
    return this.config.voters.voteResult(votes) === 3 /* Won */
  }

  voterNodes(): number[] {
    return this.config.voters.ids()
  }

  learnerNodes(): number[] {
    return sortedNumbers(this.config.learners)
  }

  resetVotes(): void {
    this.votes = new Map()
  }

  /** Records a vote from `id`; the first vote of a node in an election is the one that counts. */
  recordVote(id: number, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted)
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0
    let rejected = 0
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue
      const v = this.votes.get(id)
      if (v === undefined) continue
      if (v) granted++
      else rejected++
    }
    return { granted, rejected, result: this.config.voters.voteResult(this.votes) }
  }
}

export { MajorityConfig, JointConfig }
