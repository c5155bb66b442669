/**
 * The conformance cases of streamed snapshots (`Transport.sendSnapshot`, `TransportHandler.onSnapshot`),
 * registered by `transportConformance` (conformance.ts) for transports that stream.
 *
 * @module
 */
import type { Test } from 'tap'
import { makeMessage, MessageType, type Message, type NodeId } from '../../lib/raft/types.js'
import type { Transport, TransportHandler } from '../../transports/transport.js'
import type { ForeignKind, Inbox, TransportFactory, TransportSet } from './conformance.js'

/** What the cases need from the suite (passed in: conformance.ts imports this module). */
export interface StreamSuiteContext {
  readonly factory: TransportFactory
  started(t: Test, factory: TransportFactory, ids: readonly NodeId[]): Promise<{ set: TransportSet; inbox: Map<NodeId, Inbox> }>
  waitFor(cond: () => boolean, what: string, ms?: number): Promise<void>
  appendMessage(from: NodeId, to: NodeId, seq: number, tag?: number): Message
}

const MiB = 1024 * 1024

/** A Snap message without data, as a driver streams it. */
export function snapMessage(from: NodeId, to: NodeId): Message {
  return makeMessage({
    type: MessageType.Snap,
    from,
    to,
    term: 7,
    snapshot: { metadata: { index: 9000, term: 6, confState: { voters: [1, 2], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } }, data: new Uint8Array(0) },
  })
}

/** Chunk `i` of `size` bytes: a pattern that differs from one chunk to the next. */
function chunkOf(i: number, size: number): Uint8Array {
  const b = Buffer.alloc(size, `chunk ${i} of a streamed snapshot; `)
  if (size > 0) b[size - 1] = i & 0xff
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

interface SourceOptions {
  /** Called as chunk `i` is pulled. */
  readonly pulled?: (i: number) => void
  /** Throw `error` instead of yielding chunk `throwAt`. */
  readonly throwAt?: number
  readonly error?: Error
}

/** The sender's source: `sizes.length` chunks, made as they are pulled. */
function source(sizes: readonly number[], o: SourceOptions = {}): AsyncIterable<Uint8Array> {
  return (async function* () {
    for (let i = 0; i < sizes.length; i++) {
      if (i === o.throwAt) throw o.error ?? new Error('the source failed')
      o.pulled?.(i)
      yield chunkOf(i, sizes[i])
    }
  })()
}

/**
 * Makes `box` take streamed snapshots by pulling every chunk (waiting `delayMs` after each one):
 * the chunks it pulled, and the error its stream threw, if any.
 */
export function recordStream(box: Inbox, delayMs = 0): { got: Uint8Array[]; error: () => unknown } {
  const got: Uint8Array[] = []
  let error: unknown
  handlerOf(box).onSnapshot = async (_from, _m, chunks) => {
    try {
      for await (const chunk of chunks) {
        got.push(chunk)
        if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs))
      }
    } catch (err) {
      error = err
      throw err
    }
  }
  return { got, error: () => error }
}

function handlerOf(box: Inbox): TransportHandler {
  return box as TransportHandler
}

/** A promise and its resolve, to hold a handler until the test lets it go. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void
  const promise = new Promise<void>((resolve) => (open = resolve))
  return { promise, open }
}

function receivedBytes(tr: Transport, from: NodeId): number | undefined {
  const m = (tr as { metrics?: { counter(name: string, help: string): { get(labels: Record<string, unknown>): number } } }).metrics
  return m?.counter('metastore_transport_received_bytes_total', '').get({ peer: from })
}

/** Registers the streamed-snapshot cases under `t`; skipped for a transport without `sendSnapshot`. */
export function streamConformance(t: Test, c: StreamSuiteContext): void {
  const { factory, started, waitFor } = c
  t.test('streamed snapshots', async (t) => {
    const probe = await factory.create([1])
    const streams = typeof probe.get(1).sendSnapshot === 'function'
    await probe.close()
    if (!streams) {
      t.skip('streamed snapshots: skipped, this transport does not stream snapshots', () => {})
      return
    }

    t.test('chunks arrive in order, with their boundaries and bytes', async (t) => {
      const { set, inbox } = await started(t, factory, [1, 2])
      const sizes: number[] = []
      for (let i = 0; i < 40; i++) sizes.push(i === 7 ? 0 : i === 20 ? 3 * MiB : 1 + ((i * 7919) % 150_000))
      const got: Uint8Array[] = []
      let from: NodeId | undefined
      let message: Message | undefined
      handlerOf(inbox.get(2)!).onSnapshot = async (f, m, chunks) => {
        from = f
        message = m
        for await (const chunk of chunks) got.push(chunk)
      }
      const before = receivedBytes(set.get(2), 1)
      const snap = snapMessage(1, 2)
      await set.get(1).sendSnapshot!(2, snap, source(sizes))
      t.equal(from, 1, 'from the sender')
      t.strictSame(message?.snapshot?.metadata, snap.snapshot!.metadata, 'the message, metadata intact')
      t.equal(message?.snapshot?.data.byteLength, 0, 'without data')
      t.strictSame(
        got.map((g) => g.byteLength),
        sizes,
        'every chunk, in order, with its boundaries (an empty one and one of 3 MiB among them)',
      )
      const intact = got.filter((g, i) => Buffer.from(g.buffer, g.byteOffset, g.byteLength).equals(chunkOf(i, sizes[i]))).length
      t.equal(intact, sizes.length, 'every byte intact')
      if (before !== undefined) {
        const total = sizes.reduce((a, b) => a + b, 0)
        t.ok(receivedBytes(set.get(2), 1)! - before >= total, 'the bytes are counted as received')
      }
    })

    t.test('a handler that rejects makes the sender reject', async (t) => {
      const { set, inbox } = await started(t, factory, [1, 2])
      const sizes = new Array<number>(40).fill(64 * 1024)
      let pulled = 0
      handlerOf(inbox.get(2)!).onSnapshot = async (_f, _m, chunks) => {
        for await (const chunk of chunks) {
          void chunk
          if (++pulled === 3) throw new Error('no room for it')
        }
      }
      await t.rejects(set.get(1).sendSnapshot!(2, snapMessage(1, 2), source(sizes)), /no room for it/, 'rejected, with the handler’s reason')
      handlerOf(inbox.get(2)!).onSnapshot = () => Promise.reject(new Error('not now'))
      await t.rejects(set.get(1).sendSnapshot!(2, snapMessage(1, 2), source(sizes)), /not now/, 'also when it rejects without reading')
      delete handlerOf(inbox.get(2)!).onSnapshot
      await t.rejects(set.get(1).sendSnapshot!(2, snapMessage(1, 2), source(sizes)), /refused/, 'a handler without onSnapshot refuses streamed snapshots')
      // The link works on.
      set.get(1).send(2, [c.appendMessage(1, 2, 0, 5)])
      await waitFor(() => inbox.get(2)!.from(1).some((m) => m.commit === 5), 'a batch after the refusals')
      t.pass('batches still flow')
    })

    t.test('a source that throws half-way breaks the stream on both sides', async (t) => {
      const { set, inbox } = await started(t, factory, [1, 2])
      const node = recordStream(inbox.get(2)!)
      const boom = new Error('the database snapshot went away')
      const sizes = new Array<number>(40).fill(32 * 1024)
      const err = await set.get(1).sendSnapshot!(2, snapMessage(1, 2), source(sizes, { throwAt: 20, error: boom })).then(
        () => undefined,
        (e: unknown) => e,
      )
      t.equal(err, boom, 'the sender rejects with the source’s error')
      await waitFor(() => node.error() !== undefined, 'the receiver’s iterable to throw')
      t.ok(node.error() instanceof Error, `the receiver’s iterable throws (${(node.error() as Error).message})`)
      t.ok(node.got.length <= 20, 'the node never saw the end of the stream')
    })

    t.test('a slow handler holds the sender back', async (t) => {
      const { set, inbox } = await started(t, factory, [1, 2])
      const count = 60
      let pulled = 0
      let consumed = 0
      let ahead = 0
      handlerOf(inbox.get(2)!).onSnapshot = async (_f, _m, chunks) => {
        for await (const chunk of chunks) {
          void chunk
          consumed++
          await new Promise((r) => setTimeout(r, 20))
        }
      }
      const sizes = new Array<number>(count).fill(MiB)
      await set.get(1).sendSnapshot!(2, snapMessage(1, 2), source(sizes, { pulled: () => (ahead = Math.max(ahead, ++pulled - consumed)) }))
      t.equal(consumed, count, 'every chunk consumed')
      // Loose: the kernel's socket buffers hold several MiB, on top of the receiver's own few.
      t.ok(ahead <= 24, `the sender pulled at most 24 chunks of 1 MiB ahead of the node (${ahead})`)
    })

    t.test('one streamed snapshot per peer at a time', async (t) => {
      const { set, inbox } = await started(t, factory, [1, 2])
      const held = gate()
      t.teardown(held.open)
      let calls = 0
      handlerOf(inbox.get(2)!).onSnapshot = async (_f, _m, chunks) => {
        calls++
        await held.promise
        for await (const chunk of chunks) void chunk
      }
      const first = set.get(1).sendSnapshot!(2, snapMessage(1, 2), source([10, 20, 30]))
      await t.rejects(set.get(1).sendSnapshot!(2, snapMessage(1, 2), source([1])), 'a second one to the same peer rejects at once')
      await waitFor(() => calls === 1, 'the first stream to reach the handler')
      held.open()
      await first
      t.equal(calls, 1, 'the first went through, alone')
    })

    t.test('closing either side ends a stream in flight', async (t) => {
      for (const closing of ['receiver', 'sender'] as const) {
        const { set, inbox } = await started(t, factory, [1, 2])
        const node = recordStream(inbox.get(2)!, 5)
        const sending = set.get(1).sendSnapshot!(2, snapMessage(1, 2), source(new Array<number>(2000).fill(64 * 1024)))
        sending.catch(() => {})
        await waitFor(() => node.got.length >= 2, 'the stream under way')
        await set.get(closing === 'receiver' ? 2 : 1).close()
        await t.rejects(sending, `closing the ${closing}: the sender rejects`)
        await waitFor(() => node.error() !== undefined, 'the receiver’s iterable to throw')
        t.ok(node.error() instanceof Error, `closing the ${closing}: the receiver’s iterable throws (${(node.error() as Error).message})`)
        await set.close()
      }
    })

    t.test('regular messages flow while a stream is held', async (t) => {
      const { set, inbox } = await started(t, factory, [1, 2])
      const held = gate()
      t.teardown(held.open)
      let first = false
      handlerOf(inbox.get(2)!).onSnapshot = async (_f, _m, chunks) => {
        for await (const chunk of chunks) {
          void chunk
          if (!first) {
            first = true
            await held.promise
          }
        }
      }
      const sending = set.get(1).sendSnapshot!(2, snapMessage(1, 2), source(new Array<number>(64).fill(MiB)))
      await waitFor(() => first, 'the stream to reach the handler')
      const batch = [c.appendMessage(1, 2, 1, 77), c.appendMessage(1, 2, 2, 77)]
      set.get(1).send(2, batch)
      await waitFor(() => inbox.get(2)!.from(1).filter((m) => m.commit === 77).length === 2, 'a batch while the stream is held')
      t.pass('a batch arrived while the handler held the stream')
      held.open()
      await sending
      t.pass('and the stream completed afterwards')
    })

    const refusal = factory.supports.handshake ? t.test.bind(t) : t.skip.bind(t)
    refusal('a foreign transport cannot stream a snapshot in', async (t) => {
      const kinds: ForeignKind[] = ['cluster', 'node', 'secret', 'target']
      const { set, inbox } = await started(t, factory, [1, 2])
      let calls = 0
      handlerOf(inbox.get(1)!).onSnapshot = async (_f, _m, chunks) => {
        calls++
        for await (const chunk of chunks) void chunk
      }
      for (const kind of kinds) {
        const foreign = await set.foreign(kind, 1)
        await foreign.transport.start(foreign.id, handlerOf({ onMessages() {}, onUnreachable() {} } as unknown as Inbox))
        await t.rejects(foreign.transport.sendSnapshot!(foreign.to, snapMessage(foreign.id, foreign.to), source([100, 200])), `a foreign ${kind}: refused`)
      }
      t.equal(calls, 0, 'the handler was never called')
    })
  })
}
