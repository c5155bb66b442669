import { createNode, type CreateNodeOptions, type MetastoreNode } from '../../lib/node/create-node.js'
import { memoryStorage } from '../../lib/storage/memory-engine.js'
import { InProcessNetwork } from '../../transports/inprocess.js'

/**
 * Three `createNode` members on an in-process network (FIFO links, 0–1 ms delays), closed when
 * the test ends; resolves once a leader is known.
 */
export async function threeNodeCluster<V>(
  t: { teardown(fn: () => unknown): void },
  seed: number,
  options: Partial<Omit<CreateNodeOptions<V>, 'id' | 'peers' | 'storage' | 'transport'>> = {},
): Promise<MetastoreNode<V>[]> {
  const net = new InProcessNetwork({ seed, maxDelayMs: 1, fifo: true })
  const nodes: MetastoreNode<V>[] = []
  t.teardown(async () => {
    for (const n of nodes) await n.close()
    net.close()
  })
  for (const id of [1, 2, 3]) {
    nodes.push(await createNode<V>({ tickMs: 10, requestTimeoutMs: 4000, ...options, id, peers: [1, 2, 3], storage: await memoryStorage(), transport: net.transport() }))
  }
  await nodes[0].waitForLeader()
  return nodes
}

/** Waits until `cond` holds, checking every 5 ms; fails naming `what` after `ms` milliseconds. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}
