import { encodeConfChange } from './conf-change-codec.js'
import { EntryType, type Entry, type HardState, type NodeId } from './types.js'

/**
 * The log a brand-new cluster starts from: one committed ConfChange entry per initial voter, at
 * term 1. Every initial member writes the same entries, so their logs agree from the start, and a
 * node that joins later learns the initial membership by replaying the log from index 1.
 * `contexts` attaches an opaque context to a peer's entry (the driver puts its address there).
 */
export function bootstrapLog(peers: readonly NodeId[], contexts?: ReadonlyMap<NodeId, Uint8Array>): { entries: Entry[]; hardState: HardState } {
  if (peers.length === 0) throw new TypeError('bootstrap needs at least one peer')
  const sorted = [...new Set(peers)].sort((a, b) => a - b)
  if (sorted.length !== peers.length) throw new TypeError('duplicate peer ids')
  for (const id of sorted) if (!Number.isSafeInteger(id) || id <= 0) throw new TypeError(`invalid peer id ${id}`)
  const entries = sorted.map(
    (id, i): Entry => {
      const context = contexts?.get(id)
      const changes = [{ type: 'addVoter' as const, nodeId: id }]
      return { term: 1, index: i + 1, type: EntryType.ConfChange, data: encodeConfChange(context ? { changes, context } : { changes }) }
    },
  )
  return { entries, hardState: { term: 1, vote: 0, commit: entries.length } }
}
