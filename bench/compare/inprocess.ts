/**
 * `inprocess`: 3 members in one process through `createNode`, memory storage and the in-process
 * transport (messages delivered at once, nothing synced): what the library costs in CPU with the
 * network and the disk taken away. Writes per second at concurrency 1 to 4096. (`bench/raft.ts`
 * measures the Raft core alone, below the driver and the state machine.)
 *
 * @module
 */
import { createNode, type MetastoreNode } from '../../lib/node/create-node.js'
import { memoryStorage } from '../../lib/storage/memory-engine.js'
import { InProcessNetwork } from '../../transports/inprocess.js'
import type { SuiteOptions } from './options.js'
import { emit, lineOf, type BenchLine } from './result.js'
import { closedLoop, VALUE_BYTES_ARRAY } from './workload.js'

const CONCURRENCY = [1, 16, 128, 512, 1024, 4096]

const bytesCodec = { encode: (v: Uint8Array): Uint8Array => v, decode: (b: Uint8Array): Uint8Array => b }

export async function inprocess(options: SuiteOptions): Promise<BenchLine[]> {
  const lines: BenchLine[] = []
  for (const concurrency of CONCURRENCY) {
    // A fresh cluster per level: each starts from the same empty state.
    const net = new InProcessNetwork({ seed: 1 })
    const nodes: MetastoreNode<Uint8Array>[] = []
    try {
      for (const id of [1, 2, 3]) {
        nodes.push(await createNode<Uint8Array>({ id, peers: [1, 2, 3], storage: await memoryStorage(), transport: net.transport(), codec: bytesCodec }))
      }
      const leaderId = await nodes[0].waitForLeader()
      const leader = nodes.find((n) => n.id === leaderId)!
      let cpu0 = process.cpuUsage()
      let cpu = { user: 0, system: 0 }
      const figures = await closedLoop((key) => leader.kv.put(key, VALUE_BYTES_ARRAY), { op: 'put', concurrency, seconds: options.seconds, warmupSeconds: options.warmupSeconds }, {
        onWindowStart: () => {
          cpu0 = process.cpuUsage()
        },
        onWindowEnd: () => {
          cpu = process.cpuUsage(cpu0)
        },
      })
      const line = lineOf({ system: 'metastore', scenario: 'inprocess', op: 'put', concurrency }, figures, {
        client: 0,
        servers: (cpu.user + cpu.system) / 1e6 / figures.seconds,
      })
      emit(line)
      lines.push(line)
    } finally {
      for (const n of nodes) await n.close()
      net.close()
    }
  }
  return lines
}
