// The shared transport conformance suite against the in-process network.
import type { NodeId } from '../../lib/raft/types.js'
import { InProcessNetwork } from '../../transports/inprocess.js'
import type { Transport } from '../../transports/transport.js'
import { transportConformance, type TransportSet } from './conformance.js'

transportConformance('in-process', {
  supports: { handshake: false },
  async create(ids: readonly NodeId[]): Promise<TransportSet> {
    const net = new InProcessNetwork({ fifo: true })
    const made: Transport[] = []
    const current = new Map<NodeId, Transport>()
    const make = (id: NodeId): Transport => {
      const tr = net.transport()
      made.push(tr)
      current.set(id, tr)
      return tr
    }
    for (const id of ids) make(id)
    return {
      get: (id) => current.get(id)!,
      async restart(id) {
        await current.get(id)!.close()
        return make(id)
      },
      async foreign() {
        throw new Error('an in-process network has no foreign nodes')
      },
      refusals: () => 0,
      async close() {
        for (const tr of made) await tr.close()
        net.close()
      },
    }
  },
})
