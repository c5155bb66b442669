import type { ProgressMap, TrackerConfig } from '../tracker/tracker.js'
import type { ConfChangeSingle, ConfState } from '../types.js'
import { Changer } from './confchange.js'

/**
 * Rebuilds the configuration a ConfState describes by replaying the changes that lead to it from
 * an empty configuration, so that the same checks apply as for live changes.
 */
export function restoreConfig(
  cs: ConfState,
  lastIndex: number,
  maxInflight: number,
  maxInflightBytes: number,
  initial: { config: TrackerConfig; progress: ProgressMap },
): { config: TrackerConfig; progress: ProgressMap } {
  let state = initial
  const step = (fn: (c: Changer) => { config: TrackerConfig; progress: ProgressMap }) => {
    state = fn(new Changer(state.config, state.progress, lastIndex, maxInflight, maxInflightBytes))
  }
  const outgoing: ConfChangeSingle[] = cs.votersOutgoing.map((id) => ({ type: 'addVoter', nodeId: id }))
  const incoming: ConfChangeSingle[] = [
    ...cs.voters.map((id): ConfChangeSingle => ({ type: 'addVoter', nodeId: id })),
    ...cs.learners.map((id): ConfChangeSingle => ({ type: 'addLearner', nodeId: id })),
    ...cs.learnersNext.map((id): ConfChangeSingle => ({ type: 'addLearner', nodeId: id })),
  ]
  if (outgoing.length === 0) {
    // One change at a time: each step is a valid simple change.
    for (const cc of incoming) step((c) => c.simple([cc]))
    return state
  }
  // Build the outgoing half as a simple configuration, then enter the joint configuration by
  // removing all of it from the incoming half and adding the incoming members.
  for (const cc of outgoing) step((c) => c.simple([cc]))
  const changes: ConfChangeSingle[] = [
    ...cs.votersOutgoing.map((id): ConfChangeSingle => ({ type: 'removeNode', nodeId: id })),
    ...incoming,
  ]
  // enterJoint refuses a config whose incoming half ends empty, which cannot happen here because
  // a ConfState's incoming voters are never empty when it is joint.
  step((c) => c.enterJoint(cs.autoLeave, changes))
  return state
}
