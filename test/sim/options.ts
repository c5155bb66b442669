import { SeededRng } from '../../lib/raft/rng.js'

/**
 * Every knob of one simulated run, drawn from the seed (swarm testing: each seed switches faults
 * on and off and picks their rates, so that rare combinations get explored too).
 */
export interface SimOptions {
  readonly seed: number
  readonly nodes: number
  /** Length of the safety phase, in simulated milliseconds. */
  readonly safetyMs: number
  /** Bound on the liveness phase, in simulated milliseconds. */
  readonly livenessMs: number
  readonly tickMs: number
  readonly electionTick: number
  readonly heartbeatTick: number
  readonly preVote: boolean
  readonly checkQuorum: boolean
  /** Serve ReadIndex from the leader's lease (needs checkQuorum). */
  readonly leaseReads: boolean
  readonly maxSizePerMsg: number
  readonly maxInflightMsgs: number
  readonly maxUncommittedEntriesSize: number
  readonly minDelayMs: number
  readonly maxDelayMs: number
  readonly dropRate: number
  readonly duplicateRate: number
  readonly maxDiskMs: number
  /** Mean simulated ms between faults of each kind (0 = this kind is off). */
  readonly partitionEveryMs: number
  readonly crashEveryMs: number
  readonly confChangeEveryMs: number
  readonly transferEveryMs: number
  readonly proposeEveryMs: number
  readonly readEveryMs: number
  /** Applied entries between snapshots; the log is compacted behind them. */
  readonly snapshotInterval: number
  readonly compactSlack: number
}

export function deriveOptions(seed: number, nodes: number, overrides: Partial<SimOptions> = {}): SimOptions {
  const rng = new SeededRng(seed)
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]
  const maybe = (p: number, v: number): number => (rng.chance(p) ? v : 0)
  const electionTick = pick([5, 10, 10, 20])
  const base: SimOptions = {
    seed,
    nodes,
    safetyMs: 3000 + rng.int(5000),
    livenessMs: 30_000,
    tickMs: 10,
    electionTick,
    heartbeatTick: pick([1, 1, 2]),
    preVote: rng.chance(0.8),
    checkQuorum: rng.chance(0.8),
    leaseReads: rng.chance(0.5),
    maxSizePerMsg: pick([1, 64, 1024, 1024 * 1024]),
    maxInflightMsgs: pick([1, 4, 256]),
    maxUncommittedEntriesSize: pick([256, 1 << 20]),
    minDelayMs: rng.int(3),
    maxDelayMs: 3 + rng.int(pick([5, 20, 60])),
    dropRate: pick([0, 0.01, 0.05, 0.2]),
    duplicateRate: pick([0, 0.01, 0.05]),
    maxDiskMs: pick([0, 2, 10]),
    partitionEveryMs: maybe(0.7, 200 + rng.int(2000)),
    crashEveryMs: maybe(0.7, 300 + rng.int(3000)),
    confChangeEveryMs: maybe(0.6, 200 + rng.int(2000)),
    transferEveryMs: maybe(0.5, 300 + rng.int(3000)),
    proposeEveryMs: 1 + rng.int(20),
    readEveryMs: maybe(0.8, 5 + rng.int(50)),
    snapshotInterval: pick([5, 20, 100, 1_000_000]),
    compactSlack: pick([0, 2, 10]),
  }
  return { ...base, ...overrides }
}

/** Every fault kind switched on, at the seed's rates (for runs that must exercise all of them). */
export function allFaults(o: SimOptions): SimOptions {
  const rng = new SeededRng(o.seed ^ 0x5eed)
  return {
    ...o,
    dropRate: o.dropRate || 0.02,
    duplicateRate: o.duplicateRate || 0.01,
    partitionEveryMs: o.partitionEveryMs || 300 + rng.int(1500),
    crashEveryMs: o.crashEveryMs || 400 + rng.int(2000),
    confChangeEveryMs: o.confChangeEveryMs || 300 + rng.int(1500),
    transferEveryMs: o.transferEveryMs || 400 + rng.int(2000),
    readEveryMs: o.readEveryMs || 10 + rng.int(40),
    snapshotInterval: o.snapshotInterval === 1_000_000 ? 20 : o.snapshotInterval,
  }
}

export function describeOptions(o: SimOptions): string {
  return Object.entries(o)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')
}
