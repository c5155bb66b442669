import { JointConfig } from '../quorum/joint.js'
import { MajorityConfig } from '../quorum/majority.js'
import { Inflights } from '../tracker/inflights.js'
import { Progress } from '../tracker/progress.js'
import type { ProgressMap, TrackerConfig } from '../tracker/tracker.js'
import type { ConfChangeSingle } from '../types.js'

/** Why a configuration change was refused. The core returns it; the driver maps it to an error. */
export class ConfChangeError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ConfChangeError'
  }
}

/** A mutable working copy of a configuration, built and checked before it replaces the real one. */
interface Working {
  incoming: Set<number>
  outgoing: Set<number>
  learners: Set<number>
  learnersNext: Set<number>
  autoLeave: boolean
  progress: ProgressMap
}

/**
 * Computes the configuration that results from a change, on copies: the tracker is replaced only
 * with a result that passed every check. Mirrors Raft §6 (joint consensus) and the one-change-at-
 * a-time rule: a simple change may alter the voters by at most one member, so that any majority of
 * the old configuration overlaps any majority of the new one.
 */
export class Changer {
  readonly #config: TrackerConfig
  readonly #progress: ProgressMap
  readonly #lastIndex: number
  readonly #maxInflight: number
  readonly #maxInflightBytes: number

  constructor(config: TrackerConfig, progress: ProgressMap, lastIndex: number, maxInflight: number, maxInflightBytes: number) {
    this.#config = config
    this.#progress = progress
    this.#lastIndex = lastIndex
    this.#maxInflight = maxInflight
    this.#maxInflightBytes = maxInflightBytes
  }

  /**
   * Enters a joint configuration: the current voters become the outgoing half, the changes are
   * applied to the incoming half. Decisions then need a majority of both halves.
   */
  enterJoint(autoLeave: boolean, changes: readonly ConfChangeSingle[]): { config: TrackerConfig; progress: ProgressMap } {
    const w = this.#working()
    if (w.outgoing.size > 0) throw new ConfChangeError('config is already joint')
    if (w.incoming.size === 0) {
      // An empty incoming half would make every decision rest on the outgoing half alone, which
      // is not joint consensus but a bug.
      throw new ConfChangeError("can't make a zero-voter config joint")
    }
    for (const id of w.incoming) w.outgoing.add(id)
    this.#apply(w, changes)
    w.autoLeave = autoLeave
    return this.#finish(w)
  }

  /**
   * Leaves a joint configuration: the outgoing half is dropped, learnersNext become learners and
   * members only in the outgoing half are forgotten.
   */
  leaveJoint(): { config: TrackerConfig; progress: ProgressMap } {
    const w = this.#working()
    if (w.outgoing.size === 0) throw new ConfChangeError("can't leave a non-joint config")
    for (const id of w.learnersNext) {
      w.learners.add(id)
      w.progress.get(id)!.isLearner = true
    }
    w.learnersNext.clear()
    for (const id of w.outgoing) {
      if (!w.incoming.has(id) && !w.learners.has(id)) w.progress.delete(id)
    }
    w.outgoing.clear()
    w.autoLeave = false
    return this.#finish(w)
  }

  /** Applies changes that alter the voters by at most one member, without a joint step. */
  simple(changes: readonly ConfChangeSingle[]): { config: TrackerConfig; progress: ProgressMap } {
    const w = this.#working()
    if (w.outgoing.size > 0) throw new ConfChangeError("can't apply simple config change in joint config")
    const before = new Set(w.incoming)
    this.#apply(w, changes)
    let diff = 0
    for (const id of before) if (!w.incoming.has(id)) diff++
    for (const id of w.incoming) if (!before.has(id)) diff++
    if (diff > 1) throw new ConfChangeError('more than one voter changed without entering joint config')
    return this.#finish(w)
  }

  #apply(w: Working, changes: readonly ConfChangeSingle[]): void {
    for (const cc of changes) {
      if (!Number.isSafeInteger(cc.nodeId) || cc.nodeId < 0) throw new ConfChangeError(`invalid node id ${cc.nodeId}`)
      // Id 0 is a no-op, used to carry context in an otherwise empty change.
      if (cc.nodeId === 0) continue
      switch (cc.type) {
        case 'addVoter':
          this.#makeVoter(w, cc.nodeId)
          break
        case 'addLearner':
          this.#makeLearner(w, cc.nodeId)
          break
        case 'removeNode':
          this.#remove(w, cc.nodeId)
          break
        default:
          throw new ConfChangeError(`unknown conf change type ${String((cc as { type: unknown }).type)}`)
      }
    }
    if (w.incoming.size === 0) throw new ConfChangeError('removed all voters')
  }

  #makeVoter(w: Working, id: number): void {
    const pr = w.progress.get(id)
    if (pr === undefined) {
      this.#initProgress(w, id, false)
      return
    }
    pr.isLearner = false
    w.learners.delete(id)
    w.learnersNext.delete(id)
    w.incoming.add(id)
  }

  #makeLearner(w: Working, id: number): void {
    const pr = w.progress.get(id)
    if (pr === undefined) {
      this.#initProgress(w, id, true)
      return
    }
    if (pr.isLearner) return
    // Take it out of the incoming voters but keep its progress, which #remove would drop if the
    // node were in no other role.
    this.#remove(w, id)
    w.progress.set(id, pr)
    // A voter of the outgoing half must keep voting there until the joint configuration is left;
    // it becomes a learner then (learnersNext). Otherwise it is a learner at once.
    if (w.outgoing.has(id)) {
      w.learnersNext.add(id)
    } else {
      pr.isLearner = true
      w.learners.add(id)
    }
  }

  #remove(w: Working, id: number): void {
    if (!w.progress.has(id)) return
    w.incoming.delete(id)
    w.learners.delete(id)
    w.learnersNext.delete(id)
    // A voter of the outgoing half keeps its progress until the joint configuration is left.
    if (!w.outgoing.has(id)) w.progress.delete(id)
  }

  #initProgress(w: Working, id: number, isLearner: boolean): void {
    if (isLearner) w.learners.add(id)
    else w.incoming.add(id)
    // The new member's log is unknown: probe from the leader's last index. It starts as recently
    // active so that check-quorum does not count it against the leader before it was ever heard.
    const pr = new Progress(Math.max(this.#lastIndex, 1), new Inflights(this.#maxInflight, this.#maxInflightBytes), isLearner)
    pr.recentActive = true
    w.progress.set(id, pr)
  }

  #working(): Working {
    const progress: ProgressMap = new Map()
    for (const [id, pr] of this.#progress) progress.set(id, pr.clone())
    return {
      incoming: new Set(this.#config.voters.incoming.ids),
      outgoing: new Set(this.#config.voters.outgoing.ids),
      learners: new Set(this.#config.learners),
      learnersNext: new Set(this.#config.learnersNext),
      autoLeave: this.#config.autoLeave,
      progress,
    }
  }

  #finish(w: Working): { config: TrackerConfig; progress: ProgressMap } {
    checkInvariants(w)
    return {
      config: {
        voters: new JointConfig(new MajorityConfig(w.incoming), new MajorityConfig(w.outgoing)),
        learners: w.learners,
        learnersNext: w.learnersNext,
        autoLeave: w.autoLeave,
      },
      progress: w.progress,
    }
  }
}

function checkInvariants(w: Working): void {
  for (const ids of [w.incoming, w.outgoing, w.learners, w.learnersNext]) {
    for (const id of ids) {
      if (!w.progress.has(id)) throw new ConfChangeError(`no progress for ${id}`)
    }
  }
  for (const id of w.learnersNext) {
    if (!w.outgoing.has(id)) throw new ConfChangeError(`${id} is in learnersNext, but not outgoing`)
    if (w.progress.get(id)!.isLearner) throw new ConfChangeError(`${id} is in learnersNext, but is already marked as learner`)
  }
  for (const id of w.learners) {
    if (w.outgoing.has(id)) throw new ConfChangeError(`${id} is in learners and outgoing`)
    if (w.incoming.has(id)) throw new ConfChangeError(`${id} is in learners and incoming`)
    if (!w.progress.get(id)!.isLearner) throw new ConfChangeError(`${id} is in learners, but is not marked as learner`)
  }
  if (w.outgoing.size === 0) {
    if (w.learnersNext.size > 0) throw new ConfChangeError('learnersNext must be empty when not joint')
    if (w.autoLeave) throw new ConfChangeError('autoLeave must be false when not joint')
  }
}
