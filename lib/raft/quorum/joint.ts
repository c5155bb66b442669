import { MajorityConfig } from './majority.js'
import { VoteResult, type AckedIndexer } from './quorum.js'

/**
 * Two majority configurations that must both agree (Raft §6, joint consensus). Outside a joint
 * configuration `outgoing` is empty and decisions rest on `incoming` alone.
 */
export class JointConfig {
  readonly incoming: MajorityConfig
  readonly outgoing: MajorityConfig

  constructor(incoming: MajorityConfig = new MajorityConfig(), outgoing: MajorityConfig = new MajorityConfig()) {
    this.incoming = incoming
    this.outgoing = outgoing
  }

  get isJoint(): boolean {
    return this.outgoing.size > 0
  }

  /** Every voter of either half, sorted. */
  ids(): number[] {
    const all = new Set<number>([...this.incoming.ids, ...this.outgoing.ids])
    return [...all].sort((a, b) => a - b)
  }

  has(id: number): boolean {
    return this.incoming.has(id) || this.outgoing.has(id)
  }

  committedIndex(acked: AckedIndexer): number {
    return Math.min(this.incoming.committedIndex(acked), this.outgoing.committedIndex(acked))
  }

  voteResult(votes: ReadonlyMap<number, boolean>): VoteResult {
    const r1 = this.incoming.voteResult(votes)
    const r2 = this.outgoing.voteResult(votes)
    if (r1 === r2) return r1
    if (r1 === VoteResult.Lost || r2 === VoteResult.Lost) return VoteResult.Lost
    // One won and the other is pending: pending.
    return VoteResult.Pending
  }

  toString(): string {
    return this.isJoint ? `${this.incoming}&&${this.outgoing}` : `${this.incoming}`
  }
}
