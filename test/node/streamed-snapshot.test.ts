// Streamed snapshots through the driver: the leader reads its state out of a database snapshot
// chunk by chunk, the follower stages the chunks beside its live state and hands Raft a snapshot
// that names them; the staged state becomes live when Raft restores it. Also: a snapshot staged
// and recorded by the log but not yet restored when the process stops is restored at the next
// start, and a stale one is dropped.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { MemoryLevel } from 'memory-level'
import { encodeEnvelope } from '../../lib/kv/codec.js'
import { HEAD_KEY, rootLayout } from '../../lib/kv/layout.js'
import { MvccStore } from '../../lib/kv/mvcc-store.js'
import { decodeHead, type HeadRecord } from '../../lib/kv/records.js'
import type { LevelDatabase } from '../../lib/storage/level-database.js'
import { createNode, type MetastoreNode } from '../../lib/node/create-node.js'
import { KvStateMachine } from '../../lib/node/kv-state-machine.js'
import { MessageType, makeMessage, type ConfState, type Message, type NodeId } from '../../lib/raft/types.js'
import { levelStorage } from '../../lib/storage/level-engine.js'
import { memoryStorage } from '../../lib/storage/memory-engine.js'
import { InProcessNetwork } from '../../transports/inprocess.js'
import type { Transport, TransportHandler } from '../../transports/transport.js'
import { until } from './kit.js'

/**
 * An in-process network whose transports also stream snapshots: the chunks go, copied one by
 * one as they are pulled, to the target's `onSnapshot`. `streams` counts the streams taken.
 */
class StreamingNetwork {
  readonly net = new InProcessNetwork({ seed: 5, maxDelayMs: 1, fifo: true })
  readonly handlers = new Map<NodeId, TransportHandler>()
  /** While false, streams fail as unreachable (an isolated node). */
  open = true
  streams = 0
  chunks = 0

  transport(): Transport {
    const inner = this.net.transport()
    let self = 0
    return {
      start: async (id, handler) => {
        self = id
        this.handlers.set(id, handler)
        await inner.start(id, handler)
      },
      send: (to, messages) => inner.send(to, messages),
      addPeer: () => {},
      removePeer: () => {},
      close: async () => {
        this.handlers.delete(self)
        await inner.close()
      },
      sendSnapshot: async (to, message, chunks) => {
        const handler = this.handlers.get(to)
        if (!this.open || !handler?.onSnapshot) throw new Error(`node ${to} is unreachable`)
        const copied = async function* (this: StreamingNetwork): AsyncGenerator<Uint8Array> {
          for await (const chunk of chunks) {
            this.chunks++
            yield chunk.slice()
          }
        }.call(this)
        await handler.onSnapshot(self, message, copied)
        this.streams++
      },
    }
  }
}

function conf(voters: NodeId[]): ConfState {
  return { voters, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }
}

async function dump(node: MetastoreNode<string>): Promise<string[]> {
  const { kvs } = await node.kv.range({ prefix: '', serializable: true })
  return kvs.map((kv) => `${kv.key}=${kv.value}@${kv.modRevision}`)
}

t.test('a follower catches up from a streamed snapshot while writes go on, and restarts from it', async (t) => {
  const sn = new StreamingNetwork()
  const dir = mkdtempSync(join(tmpdir(), 'metastore-stream-'))
  const nodes = new Map<number, MetastoreNode<string>>()
  t.teardown(async () => {
    for (const n of nodes.values()) await n.close()
    sn.net.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const options = { peers: [1, 2, 3], tickMs: 10, snapshotEvery: 25, compactKeep: 5, requestTimeoutMs: 5000 }
  const start = async (id: number): Promise<MetastoreNode<string>> => {
    const storage = id === 3 ? await levelStorage(dir) : await memoryStorage()
    const node = await createNode<string>({ ...options, id, storage, transport: sn.transport() })
    nodes.set(id, node)
    return node
  }
  for (const id of [1, 2, 3]) await start(id)
  await nodes.get(1)!.waitForLeader()
  sn.net.isolate(3)
  sn.open = false
  const write = async (i: number): Promise<void> => {
    for (const id of [1, 2]) {
      try {
        await nodes.get(id)!.kv.put(`k${i % 120}`, `v${i}`)
        return
      } catch {
        // try the other one
      }
    }
  }
  let i = 0
  for (; i < 200; i++) await write(i)

  let writing = true
  const writer = (async () => {
    while (writing) await write(i++)
  })()
  sn.open = true
  sn.net.heal()
  await until('node 3 to take a streamed snapshot', () => sn.streams > 0)
  t.ok(sn.chunks >= 3, `the snapshot came in chunks (${sn.chunks})`)
  const three = nodes.get(3)!
  await until('node 3 to apply past the snapshot', () => three.status().appliedIndex > 200)
  await three.close()
  nodes.delete(3)
  await start(3)
  const target = i + 20
  await until('20 more writes', () => i >= target)
  writing = false
  await writer
  const leader = [...nodes.values()].find((n) => n.status().role === 'leader') ?? nodes.get(1)!
  const commit = leader.status().commitIndex
  for (const [id, n] of nodes) await until(`node ${id} to apply through ${commit}`, () => n.status().appliedIndex >= commit)
  const expected = await dump(leader)
  t.equal(expected.length, 120)
  for (const [id, n] of nodes) t.same(await dump(n), expected, `node ${id} holds the leader's state`)
  // Whichever of 1 and 2 led when node 3 came back streamed it, and node 3 counted it too.
  const counted = (id: number): boolean => /metastore_snapshot_size_bytes_count [1-9]/.test(nodes.get(id)!.raft.metrics.render())
  t.ok(counted(1) || counted(2), 'the sender counted the bytes it streamed')
})

t.test('a snapshot staged and named by the log is restored at the next start; a stray one is dropped', async (t) => {
  // The state a leader would stream.
  const srcDb = new MemoryLevel()
  const src = new KvStateMachine(await MvccStore.open(srcDb), srcDb)
  const entries = Array.from({ length: 30 }, (_, i) => ({
    index: i + 1,
    term: 1,
    type: 0,
    data: encodeEnvelope({ clientId: 'c', seq: i + 1, cmd: { type: 'put', key: new TextEncoder().encode(`k${i % 9}`), value: new TextEncoder().encode(`v${i}`) } }),
  }))
  await src.apply(entries, conf([1]), { 1: 'somewhere:1' })

  const db = new MemoryLevel()
  let sm = new KvStateMachine(await MvccStore.open(db), db)
  const data = await sm.stage(src.snapshotStream())
  t.equal((await sm.open()).appliedIndex, 0, 'staging changes nothing live')
  // The process stops here: the log recorded the snapshot, the state machine did not restore it.
  sm = new KvStateMachine(await MvccStore.open(db), db)
  t.equal((await sm.open()).appliedIndex, 0)
  const restored = await sm.restore({ metadata: { index: 30, term: 1, confState: conf([1]) }, data })
  t.same(restored.addresses, { 1: 'somewhere:1' }, 'the addresses came with the stream')
  const opened = await sm.open()
  t.equal(opened.appliedIndex, 30)
  t.same(opened.confState?.voters, [1])
  t.equal(sm.store.revision, src.store.revision)
  await t.rejects(sm.restore({ metadata: { index: 30, term: 1, confState: conf([1]) }, data }), /does not hold/, 'a staged state is installed once')

  // A stray staged state (Raft never took it) is dropped by discardStaged.
  await sm.stage(src.snapshotStream())
  t.not(sm.store.stagedId, undefined)
  await sm.discardStaged()
  t.equal(sm.store.stagedId, undefined)
})

t.test('a streamed snapshot Raft does not need is staged and dropped', async (t) => {
  const sn = new StreamingNetwork()
  const nodes: MetastoreNode<string>[] = []
  const dbs = new Map<number, LevelDatabase>()
  t.teardown(async () => {
    for (const n of nodes) await n.close()
    sn.net.close()
  })
  for (const id of [1, 2, 3]) {
    const storage = await memoryStorage()
    dbs.set(id, storage.db)
    nodes.push(await createNode<string>({ id, peers: [1, 2, 3], tickMs: 10, storage, transport: sn.transport() }))
  }
  /** The KV store's head record on node `id`'s database. */
  const headOf = async (id: number): Promise<HeadRecord> => decodeHead((await rootLayout(dbs.get(id)!, 'kv').head.get(HEAD_KEY))!)
  const leader = await nodes[0].waitForLeader()
  const lead = nodes.find((n) => n.id === leader)!
  for (let i = 0; i < 10; i++) await lead.kv.put(`k${i}`, `v${i}`)
  const follower = nodes.find((n) => n.id !== leader)!
  await until('the follower to apply', () => follower.status().appliedIndex >= lead.status().commitIndex)
  const before = await dump(follower)
  // A snapshot at an index the follower committed long ago, from its leader, with real data.
  const db = new MemoryLevel()
  const stale = new KvStateMachine(await MvccStore.open(db), db)
  const m: Message = {
    ...makeMessage({ type: MessageType.Snap, from: leader, to: follower.id, term: follower.status().term }),
    snapshot: { metadata: { index: 2, term: 1, confState: conf([1, 2, 3]) }, data: new Uint8Array(0) },
  }
  const headBefore = await headOf(follower.id)
  await sn.handlers.get(follower.id)!.onSnapshot!(leader, m, stale.snapshotStream())
  const headAfter = await headOf(follower.id)
  t.equal(headAfter.current, headBefore.current, 'the live generation is the same')
  t.equal(headAfter.staged, undefined, 'nothing is left staged')
  t.same(headAfter.pending, [], 'and the staged copy was cleared')
  t.same(await dump(follower), before, 'the state is unchanged')
  await lead.kv.put('after', 'yes')
  await until('the follower to apply the next write', () => follower.status().appliedIndex >= lead.status().commitIndex)
  t.equal((await follower.kv.get('after', { serializable: true }))?.value, 'yes', 'and it keeps applying')
})
