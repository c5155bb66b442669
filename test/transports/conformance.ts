/**
 * The transport conformance suite: what every {@link Transport} must do, registered as tap subtests.
 *
 * ```ts
 * transportConformance('tcp', {
 *   supports: { handshake: true },
 *   create: async (ids) => makeWiredTcpTransports(ids),
 * })
 * ```
 *
 * A factory makes sets of transports wired to each other (every one can reach every other), can
 * restart one at the same address, and can make "foreign" ones that the others must refuse.
 *
 * @module
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { EntryType, makeMessage, MessageType, type Message, type NodeId } from '../../lib/raft/types.js'
import type { Transport, TransportHandler } from '../../transports/transport.js'
import { streamConformance } from './conformance-stream.js'

/** How a foreign transport is wrong. */
export type ForeignKind =
  /** Another cluster id. */
  | 'cluster'
  /** A node id the target does not know (never added with addPeer). */
  | 'node'
  /** The wrong shared secret. */
  | 'secret'
  /** Right credentials, but it asks for another node than the one it reached. */
  | 'target'

/** A transport the set must refuse. The suite starts it as `id` and sends to `to`. */
export interface ForeignTransport {
  readonly transport: Transport
  readonly id: NodeId
  readonly to: NodeId
}

/**
 * The foreign transport of `kind` for a set whose node `target` listens at `at`: `make(options)`
 * makes a transport of the set's kind with another cluster id or secret; `member` is another
 * member's id.
 */
export async function makeForeign<T extends Transport>(
  kind: ForeignKind,
  target: NodeId,
  member: NodeId,
  at: string,
  make: (options: { clusterId?: string; secret?: string }) => Promise<T>,
): Promise<ForeignTransport> {
  switch (kind) {
    case 'cluster': {
      const tr = await make({ clusterId: 'another cluster' })
      tr.addPeer(target, at)
      return { transport: tr, id: member, to: target }
    }
    case 'node': {
      const tr = await make({})
      tr.addPeer(target, at)
      return { transport: tr, id: 99, to: target }
    }
    case 'secret': {
      const tr = await make({ secret: 'a wrong secret' })
      tr.addPeer(target, at)
      return { transport: tr, id: member, to: target }
    }
    case 'target': {
      // It believes `target`'s address is another member's.
      const tr = await make({})
      tr.addPeer(member, at)
      return { transport: tr, id: 98, to: member }
    }
  }
}

/** Transports for a few nodes, wired to reach each other; the suite starts them. */
export interface TransportSet {
  /** The current transport of a node (not started by the set). */
  get(id: NodeId): Transport
  /** Closes the node's transport and makes a new one reachable at the same address (not started). */
  restart(id: NodeId): Promise<Transport>
  /** A transport that reaches `target` but must be refused by it (not started). */
  foreign(kind: ForeignKind, target: NodeId): Promise<ForeignTransport>
  /** Refusals counted for `reason` (`cluster`, `node`, `secret`) by every transport of this set, foreign ones included. */
  refusals(reason: string): number
  /** Closes every transport the set made. */
  close(): Promise<void>
}

/** What the suite needs from a transport implementation. */
export interface TransportFactory {
  readonly supports: {
    /** The transport runs a handshake that refuses foreign nodes (not in-process). */
    readonly handshake: boolean
  }
  /** Makes transports for `ids`, each able to reach the others. */
  create(ids: readonly NodeId[]): Promise<TransportSet>
}

/** Records what a transport delivers. */
export class Inbox implements TransportHandler {
  readonly batches: Array<{ from: NodeId; messages: readonly Message[]; at: number }> = []
  readonly unreachable: NodeId[] = []
  /** Set to fail on any delivery from now on. */
  sealed = false
  onLateDelivery: (() => void) | undefined

  onMessages(from: NodeId, messages: readonly Message[]): void {
    if (this.sealed) this.onLateDelivery?.()
    this.batches.push({ from, messages, at: performance.now() })
  }

  onUnreachable(to: NodeId): void {
    this.unreachable.push(to)
  }

  /** Every message received from `from`, in arrival order. */
  from(from: NodeId): Message[] {
    return this.batches.filter((b) => b.from === from).flatMap((b) => [...b.messages])
  }
}

/** Waits until `cond()` holds, checking every few ms; fails after `ms` (generous: machines are busy). */
export async function waitFor(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const until = performance.now() + ms
  while (!cond()) {
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

const encoder = new TextEncoder()

/** An append carrying `seq` in `index` and a small entry, with a context. */
export function appendMessage(from: NodeId, to: NodeId, seq: number, tag = 0): Message {
  return makeMessage({
    type: MessageType.App,
    from,
    to,
    term: 7,
    logTerm: 6,
    index: seq,
    commit: tag,
    entries: [{ term: 7, index: seq + 1, type: EntryType.Normal, data: encoder.encode(`entry ${seq}`) }],
    context: encoder.encode(`ctx-${tag}`),
  })
}

function heartbeat(from: NodeId, to: NodeId, seq: number): Message {
  return makeMessage({ type: MessageType.Heartbeat, from, to, term: 7, commit: seq })
}

const NET_RESOURCES = new Set(['TCPSocketWrap', 'TCPServerWrap', 'TLSWrap', 'PipeWrap', 'Timeout', 'Immediate'])

function netResources(): Map<string, number> {
  const counts = new Map<string, number>()
  for (const r of process.getActiveResourcesInfo()) if (NET_RESOURCES.has(r)) counts.set(r, (counts.get(r) ?? 0) + 1)
  return counts
}

// Sockets and servers must all be gone (those of earlier tests have had their time to close);
// timers no more than before the test (the runner has its own).
function noMoreThan(now: Map<string, number>, before: Map<string, number>): boolean {
  for (const [k, n] of now) if (n > (k === 'Timeout' || k === 'Immediate' || k === 'PipeWrap' ? (before.get(k) ?? 0) : 0)) return false
  return true
}

async function started(t: Test, factory: TransportFactory, ids: readonly NodeId[]): Promise<{ set: TransportSet; inbox: Map<NodeId, Inbox> }> {
  const set = await factory.create(ids)
  t.teardown(() => set.close())
  const inbox = new Map<NodeId, Inbox>()
  for (const id of ids) {
    const box = new Inbox()
    inbox.set(id, box)
    await set.get(id).start(id, box)
  }
  return { set, inbox }
}

/** Registers the suite as one tap subtest named `name`. */
export function transportConformance(name: string, factory: TransportFactory): void {
  t.test(`${name}: transport conformance`, async (t) => {
    t.test('delivery, and order per peer', async (t) => {
      const { set, inbox } = await started(t, factory, [1, 2, 3])
      const N = 300
      const sent = new Map<string, Message[]>()
      const links: Array<[NodeId, NodeId]> = [
        [1, 2],
        [1, 3],
        [2, 1],
        [3, 2],
      ]
      for (let seq = 0; seq < N; seq++) {
        for (const [from, to] of links) {
          const m = appendMessage(from, to, seq)
          const list = sent.get(`${from}>${to}`) ?? []
          list.push(m)
          sent.set(`${from}>${to}`, list)
          set.get(from).send(to, [m])
        }
        // Spread over several turns of the event loop, as a node sends.
        if (seq % 50 === 49) await new Promise((r) => setImmediate(r))
      }
      await waitFor(() => links.every(([from, to]) => inbox.get(to)!.from(from).length >= N), 'every message')
      for (const [from, to] of links) {
        const got = inbox.get(to)!.from(from)
        t.equal(got.length, N, `${from}→${to}: each message once`)
        t.strictSame(
          got.map((m) => m.index),
          sent.get(`${from}>${to}`)!.map((m) => m.index),
          `${from}→${to}: in the order sent`,
        )
      }
      t.strictSame(inbox.get(2)!.from(1)[123], sent.get('1>2')![123], 'a message arrives field for field (entries, context)')
      t.equal(inbox.get(1)!.from(3).length, 0, 'nothing on a link that carried nothing')
    })

    t.test('batches arrive whole', async (t) => {
      const { set, inbox } = await started(t, factory, [1, 2])
      const batches = 60
      let total = 0
      for (let b = 0; b < batches; b++) {
        const size = 1 + (b % 5)
        const batch: Message[] = []
        for (let i = 0; i < size; i++) batch.push(appendMessage(1, 2, i, b + 1))
        total += size
        set.get(1).send(2, batch)
        if (b % 7 === 0) await new Promise((r) => setImmediate(r))
      }
      await waitFor(() => inbox.get(2)!.from(1).length >= total, 'every batch')
      let whole = 0
      for (let b = 0; b < batches; b++) {
        const size = 1 + (b % 5)
        const calls = inbox.get(2)!.batches.filter((c) => c.messages.some((m) => m.commit === b + 1))
        const positions = calls.length === 1 ? calls[0].messages.filter((m) => m.commit === b + 1).map((m) => m.index) : []
        const first = calls.length === 1 ? calls[0].messages.findIndex((m) => m.commit === b + 1) : -1
        const contiguous = first >= 0 && calls[0].messages.slice(first, first + size).every((m) => m.commit === b + 1)
        if (calls.length === 1 && contiguous && positions.join() === [...Array(size).keys()].join()) whole++
      }
      t.equal(whole, batches, 'each batch in one delivery, contiguous and in order')
    })

    t.test('a peer that cannot be reached is reported', async (t) => {
      const { set, inbox } = await started(t, factory, [1, 2, 3])
      set.get(1).send(9, [heartbeat(1, 9, 1)])
      await waitFor(() => inbox.get(1)!.unreachable.includes(9), 'unreachable(9) for a node nobody knows')
      t.ok(inbox.get(1)!.unreachable.includes(9), 'an unknown peer is unreachable')
      await set.get(3).close()
      let seq = 0
      await waitFor(() => {
        set.get(1).send(3, [heartbeat(1, 3, seq++)])
        return inbox.get(1)!.unreachable.includes(3)
      }, 'unreachable(3) after node 3 closed')
      t.ok(inbox.get(1)!.unreachable.includes(3), 'a closed peer is reported unreachable')
      t.doesNotThrow(() => set.get(1).send(3, [heartbeat(1, 3, seq++)]), 'send never throws for a network failure')
    })

    t.test('reconnects after the peer restarts', async (t) => {
      const { set, inbox } = await started(t, factory, [1, 2])
      set.get(1).send(2, [appendMessage(1, 2, 0)])
      await waitFor(() => inbox.get(2)!.from(1).length === 1, 'the first message')
      const fresh = await set.restart(2)
      const box = new Inbox()
      await fresh.start(2, box)
      let seq = 1
      await waitFor(() => {
        set.get(1).send(2, [appendMessage(1, 2, seq++)])
        return box.from(1).length > 0
      }, 'a message to the restarted node')
      t.ok(box.from(1).length > 0, 'the restarted node receives again')
      const before = box.from(1).length
      const last = seq
      for (let i = 0; i < 20; i++) set.get(1).send(2, [appendMessage(1, 2, seq++)])
      await waitFor(() => box.from(1).some((m) => m.index === seq - 1), 'the messages sent once reconnected')
      const after = box.from(1).filter((m) => m.index >= last).map((m) => m.index)
      t.strictSame(after, [...Array(20).keys()].map((i) => last + i), 'and in order once reconnected')
      t.ok(box.from(1).length >= before + 20, 'nothing lost on a working link')
    })

    t.test('a 100 MB snapshot does not hold up heartbeats', async (t) => {
      const { set, inbox } = await started(t, factory, [1, 2])
      const size = 100 * 1024 * 1024
      const data = new Uint8Array(Buffer.alloc(size, 'metastore snapshot pattern '))
      data[size - 1] = 42
      const snap = makeMessage({
        type: MessageType.Snap,
        from: 1,
        to: 2,
        term: 7,
        snapshot: { metadata: { index: 5000, term: 6, confState: { voters: [1, 2], learners: [3], votersOutgoing: [], learnersNext: [], autoLeave: false } }, data },
      })
      // The link is up first, as it is between the nodes of a running cluster.
      set.get(1).send(2, [heartbeat(1, 2, 0)])
      await waitFor(() => inbox.get(2)!.from(1).length === 1, 'the link')
      let seq = 1
      const sentAt = new Map<number, number>()
      const beat = setInterval(() => {
        sentAt.set(seq, performance.now())
        set.get(1).send(2, [heartbeat(1, 2, seq++)])
      }, 10)
      t.teardown(() => clearInterval(beat))
      const t0 = performance.now()
      set.get(1).send(2, [snap])
      const arrived = () => inbox.get(2)!.batches.find((b) => b.messages.some((m) => m.type === MessageType.Snap))
      await waitFor(() => arrived() !== undefined, 'the snapshot', 60_000)
      const t1 = arrived()!.at
      // Heartbeats sent after the snapshot keep coming too.
      const mark = seq
      await waitFor(() => inbox.get(2)!.from(1).some((m) => m.type === MessageType.Heartbeat && m.commit >= mark + 3), 'heartbeats after the snapshot')
      clearInterval(beat)
      const got = arrived()!.messages.find((m) => m.type === MessageType.Snap)!
      t.strictSame(got.snapshot!.metadata, snap.snapshot!.metadata, 'snapshot metadata intact')
      t.equal(got.snapshot!.data.byteLength, size, 'all 100 MB')
      t.ok(Buffer.from(got.snapshot!.data.buffer, got.snapshot!.data.byteOffset, size).equals(data), 'every byte intact')
      const times = inbox
        .get(2)!
        .batches.filter((b) => b.at >= t0 && b.at <= t1 && b.messages.some((m) => m.type === MessageType.Heartbeat))
        .map((b) => b.at)
      const points = [t0, ...times, t1]
      let gap = 0
      for (let i = 1; i < points.length; i++) gap = Math.max(gap, points[i] - points[i - 1])
      // Heartbeats sent while the snapshot streamed arrived before it, not queued behind it. (Not
      // a bound on time: a busy machine stretches every gap alike, which says nothing of the transport.)
      const during = [...sentAt].filter(([, at]) => at >= t0 && at <= t1 - 100).map(([s]) => s)
      const before = new Set(inbox.get(2)!.batches.filter((b) => b.at <= t1).flatMap((b) => b.messages.filter((m) => m.type === MessageType.Heartbeat).map((m) => m.commit)))
      const overtook = during.filter((s) => before.has(s)).length
      t.ok(overtook >= during.length / 2, `heartbeats sent during the transfer arrived before the snapshot (${overtook} of ${during.length}; ${times.length} in ${Math.round(t1 - t0)} ms, largest gap ${Math.round(gap)} ms)`)
    })

    const refusal = factory.supports.handshake ? t.test.bind(t) : t.skip.bind(t)
    refusal(factory.supports.handshake ? 'refuses foreign nodes' : 'refuses foreign nodes: skipped, this transport has no handshake (no foreign node can reach it)', async (t) => {
      const kinds: Array<[ForeignKind, string]> = [
        ['cluster', 'cluster'],
        ['node', 'node'],
        ['secret', 'secret'],
        ['target', 'node'],
      ]
      for (const [kind, reason] of kinds) {
        const { set, inbox } = await started(t, factory, [1, 2])
        const before = set.refusals(reason)
        const foreign = await set.foreign(kind, 1)
        const box = new Inbox()
        await foreign.transport.start(foreign.id, box)
        let seq = 0
        await waitFor(() => {
          foreign.transport.send(foreign.to, [appendMessage(foreign.id, foreign.to, seq++, 666)])
          return set.refusals(reason) > before
        }, `the refusal of a foreign ${kind}`)
        t.ok(set.refusals(reason) > before, `a foreign ${kind}: refused and counted (reason ${reason})`)
        // The real peer still gets through meanwhile.
        set.get(2).send(1, [appendMessage(2, 1, 0, 1)])
        await waitFor(() => inbox.get(1)!.from(2).some((m) => m.commit === 1), 'the real peer')
        const leaked = inbox.get(1)!.batches.flatMap((b) => [...b.messages]).filter((m) => m.commit === 666)
        t.equal(leaked.length, 0, `nothing the foreign ${kind} sent arrived`)
        await set.close()
      }
    })

    streamConformance(t, { factory, started, waitFor, appendMessage })

    t.test('closes cleanly', async (t) => {
      const before = netResources()
      const set = await factory.create([1, 2])
      const a = new Inbox()
      const b = new Inbox()
      await set.get(1).start(1, a)
      await set.get(2).start(2, b)
      set.get(1).send(2, [appendMessage(1, 2, 0)])
      set.get(2).send(1, [appendMessage(2, 1, 0)])
      await waitFor(() => a.batches.length > 0 && b.batches.length > 0, 'traffic both ways')
      await set.get(2).close()
      let late = 0
      b.sealed = true
      b.onLateDelivery = () => late++
      for (let i = 1; i <= 20; i++) set.get(1).send(2, [appendMessage(1, 2, i)])
      await waitFor(() => a.unreachable.includes(2), 'node 1 to find node 2 gone')
      t.equal(late, 0, 'nothing delivered after close() resolved')
      await set.close()
      t.doesNotThrow(() => set.get(1).send(2, [appendMessage(1, 2, 99)]), 'send after close is a no-op')
      await set.get(1).close()
      await waitFor(() => noMoreThan(netResources(), before), 'sockets, servers and timers to be gone', 5000).catch(() => {})
      t.ok(noMoreThan(netResources(), before), `no handle left open (${JSON.stringify([...netResources()])} vs ${JSON.stringify([...before])})`)
    })
  })
}

/** A self-signed key and certificate for 127.0.0.1 and localhost, made with `openssl`, or why not. */
export function selfSignedCert(): { key: string; cert: string } | { skip: string } {
  let dir: string | undefined
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
  } catch {
    return { skip: 'openssl is not installed: no certificate to test TLS with' }
  }
  try {
    dir = mkdtempSync(join(tmpdir(), 'metastore-tls-'))
    const key = join(dir, 'key.pem')
    const cert = join(dir, 'cert.pem')
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=metastore-test', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
      { stdio: 'ignore' },
    )
    return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') }
  } catch (err) {
    return { skip: `openssl could not make a certificate: ${(err as Error).message}` }
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true })
  }
}
