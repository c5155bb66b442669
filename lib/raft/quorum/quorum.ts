/** The outcome of an election tally. */
export enum VoteResult {
  /** Not decided yet: more votes may still arrive. */
  Pending = 1,
  /** A quorum can no longer be reached. */
  Lost = 2,
  /** A quorum has granted the vote. */
  Won = 3,
}

/** Looks up the log index a voter has acknowledged, or undefined if unknown. */
export type AckedIndexer = (id: number) => number | undefined
