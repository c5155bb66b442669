/**
 * The CPU ceiling of the Raft core: 3 nodes in one process, memory storage, messages delivered
 * at once, no fsync. Prints one JSON line per concurrency level (proposals in flight).
 *
 *   npm run bench -- raft [--seconds 3] [--size 256]
 */
import { parseArgs } from 'node:util'
import { bootstrapLog } from '../lib/raft/bootstrap.js'
import { decodeConfChange } from '../lib/raft/conf-change-codec.js'
import { MemoryStorage } from '../lib/raft/memory-storage.js'
import { RawNode } from '../lib/raft/raw-node.js'
import { SeededRng } from '../lib/raft/rng.js'
import { EntryType, type Message } from '../lib/raft/types.js'

interface Bench {
  nodes: Map<number, { raw: RawNode; storage: MemoryStorage }>
  inbox: Message[]
  applied: number
}

function cluster(): Bench {
  const ids = [1, 2, 3]
  const nodes = new Map<number, { raw: RawNode; storage: MemoryStorage }>()
  for (const id of ids) {
    const storage = new MemoryStorage()
    const boot = bootstrapLog(ids)
    storage.append(boot.entries)
    storage.setHardState(boot.hardState)
    const raw = new RawNode({ id, storage, rng: new SeededRng(id), electionTick: 10, heartbeatTick: 1, maxInflightMsgs: 256 })
    nodes.set(id, { raw, storage })
  }
  return { nodes, inbox: [], applied: 0 }
}

/** Handles every Ready and delivers every message until the cluster is quiet. */
function pump(b: Bench): void {
  for (;;) {
    let busy = false
    for (const [id, n] of b.nodes) {
      while (n.raw.hasReady()) {
        busy = true
        const rd = n.raw.ready()
        if (rd.entries.length > 0) n.storage.append(rd.entries)
        if (rd.hardState) n.storage.setHardState(rd.hardState)
        for (const m of rd.messages) b.inbox.push(m)
        for (const e of rd.committedEntries) {
          if (e.type === EntryType.ConfChange) n.raw.applyConfChange(decodeConfChange(e.data))
          else if (id === 1 && e.data.length > 0) b.applied++
        }
        n.raw.advance()
      }
    }
    if (b.inbox.length > 0) {
      busy = true
      const msgs = b.inbox
      b.inbox = []
      for (const m of msgs) b.nodes.get(m.to)!.raw.step(m)
    }
    if (!busy) return
  }
}

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { seconds: { type: 'string', default: '3' }, size: { type: 'string', default: '256' } } })
  const seconds = Number(values.seconds)
  const payload = new Uint8Array(Number(values.size))
  for (const concurrency of [1, 16, 128, 1024, 4096]) {
    const b = cluster()
    pump(b) // apply the bootstrap membership
    b.nodes.get(1)!.raw.campaign()
    pump(b)
    if (b.nodes.get(1)!.raw.status().role !== 'leader') throw new Error('node 1 did not become leader')
    const leader = b.nodes.get(1)!.raw
    const started = process.hrtime.bigint()
    const deadline = started + BigInt(seconds * 1e9)
    let proposed = 0
    let rounds = 0
    // Closed loop: keep `concurrency` proposals outstanding; each round proposes what was applied.
    while (process.hrtime.bigint() < deadline) {
      const inFlight = proposed - b.applied
      const batch: Uint8Array[] = []
      for (let i = inFlight; i < concurrency; i++) batch.push(payload)
      if (batch.length > 0) {
        leader.proposeBatch(batch)
        proposed += batch.length
      }
      pump(b)
      rounds++
      if (rounds % 64 === 0) for (const n of b.nodes.values()) n.raw.tick()
    }
    const secs = Number(process.hrtime.bigint() - started) / 1e9
    const cpu = process.cpuUsage()
    console.log(
      JSON.stringify({
        system: 'metastore-core',
        scenario: 'in-process-core',
        op: 'propose',
        concurrency,
        valueBytes: payload.length,
        ops: b.applied,
        seconds: Number(secs.toFixed(3)),
        opsPerSec: Math.round(b.applied / secs),
        cpuUserSec: Number((cpu.user / 1e6).toFixed(2)),
      }),
    )
  }
}
