/**
 * Streamed snapshots (see {@link Transport.sendSnapshot}): what the TCP and HTTP transports share.
 * The receiving side hands its node a {@link ChunkQueue}, an async iterable over the chunks as
 * they arrive that pauses the network while the node is behind; the sending side checks each
 * chunk it pulls with {@link checkChunk}.
 *
 * @module
 */
import { TimeoutError, TooLargeError, UnreachableError } from '../lib/errors.js'
import type { NodeId } from '../lib/raft/types.js'
import type { Transport } from './transport.js'

/**
 * A stream that makes no progress for this long is given up on: the sender's socket takes no
 * byte (the receiver has stopped reading), or the receiver waits for a chunk that does not come.
 * A receiver that is merely slow makes progress and is waited for.
 */
export const STREAM_IDLE_MS = 60_000

/** The receiver pauses the network while more than this many bytes wait for the node. */
export const STREAM_HIGH_WATER = 4 * 1024 * 1024

// A node that stops reading before the end is given this long to settle (and say why) before the
// stream is refused without its reason.
const ABANDON_GRACE_MS = 1000

// Each chunk buffered counts for this much more than its bytes, so that a flood of tiny (or
// empty) chunks is bounded too.
const CHUNK_OVERHEAD = 64

/** The receiver did not take a streamed snapshot: it takes none, its node refused it, or it stopped reading. */
export class SnapshotRefusedError extends UnreachableError {
  constructor(peer: NodeId, reason: string) {
    super(peer, `node ${peer} refused the snapshot: ${reason}`)
    this.name = 'SnapshotRefusedError'
  }
}

/**
 * Checks a chunk the sender pulled: a `Uint8Array` (a TypeError otherwise) of at most `limit`
 * bytes (a {@link TooLargeError} otherwise).
 */
export function checkChunk(chunk: unknown, limit: number): Uint8Array {
  if (!(chunk instanceof Uint8Array)) throw new TypeError('a snapshot chunk must be a Uint8Array')
  if (chunk.byteLength > limit) throw new TooLargeError('a snapshot chunk', chunk.byteLength, limit)
  return chunk
}

/** How a {@link ChunkQueue} acts on the connection it reads from. */
export interface ChunkFlow {
  /** Stop reading: the node is behind. */
  pause(): void
  /** Read again. */
  resume(): void
  /**
   * The node stopped iterating before the end (`break`, `return()`, or a throw in its loop) and
   * has not settled within a second: the stream is refused. (Its settling first gives the reason.)
   */
  abandoned(): void
  /** The node waited {@link STREAM_IDLE_MS} for a chunk that did not come; the queue has failed with a TimeoutError. */
  stalled(): void
}

/**
 * The chunks of one streamed snapshot, from the connection to the node: an async iterable that
 * can be iterated once. It buffers what arrives while the node is busy, up to
 * {@link STREAM_HIGH_WATER} bytes, then pauses the connection until the node pulls again.
 *
 * Invariant: at most one pull waits at a time, and it waits only while nothing is buffered.
 */
export class ChunkQueue implements AsyncIterable<Uint8Array>, AsyncIterator<Uint8Array> {
  readonly #flow: ChunkFlow
  readonly #from: NodeId
  readonly #idleMs: number
  #chunks: Uint8Array[] = []
  #head = 0
  #bytes = 0
  #paused = false
  #state: 'open' | 'ended' | 'complete' | 'failed' | 'abandoned' = 'open'
  #error: Error | undefined
  #waiter: { resolve: (r: IteratorResult<Uint8Array>) => void; reject: (err: Error) => void } | undefined
  #idle: ReturnType<typeof setTimeout> | undefined
  #grace: ReturnType<typeof setTimeout> | undefined
  #iterated = false

  constructor(from: NodeId, flow: ChunkFlow, idleMs = STREAM_IDLE_MS) {
    this.#from = from
    this.#flow = flow
    this.#idleMs = idleMs
  }

  /** Whether the node pulled every chunk and the end: only then may the snapshot be acknowledged. */
  get complete(): boolean {
    return this.#state === 'complete'
  }

  /** Whether the queue still takes chunks or errors (it has not failed, been abandoned or completed). */
  get live(): boolean {
    return this.#state === 'open' || this.#state === 'ended'
  }

  /** A chunk arrived (in order). The queue keeps the buffer: the caller must not reuse it. */
  push(chunk: Uint8Array): void {
    if (this.#state !== 'open') return
    const w = this.#waiter
    if (w) {
      this.#waiter = undefined
      this.#clearIdle()
      w.resolve({ value: chunk, done: false })
      return
    }
    this.#chunks.push(chunk)
    this.#bytes += chunk.byteLength + CHUNK_OVERHEAD
    if (!this.#paused && this.#bytes > STREAM_HIGH_WATER) {
      this.#paused = true
      this.#flow.pause()
    }
  }

  /** The sender's end marker arrived: the node gets the end once it has pulled what is buffered. */
  end(): void {
    if (this.#state !== 'open') return
    this.#state = 'ended'
    const w = this.#waiter
    if (w) {
      this.#waiter = undefined
      this.#clearIdle()
      this.#state = 'complete'
      w.resolve({ value: undefined, done: true })
    }
  }

  /** The stream broke: the node's next pull (or the one waiting) throws `err`; what is buffered is dropped. */
  fail(err: Error): void {
    if (!this.live) return
    this.#state = 'failed'
    this.#error = err
    this.#drop()
    const w = this.#waiter
    if (w) {
      this.#waiter = undefined
      w.reject(err)
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.#iterated) throw new TypeError('a snapshot stream can be iterated once')
    this.#iterated = true
    return this
  }

  next(): Promise<IteratorResult<Uint8Array>> {
    if (this.#head < this.#chunks.length) {
      const chunk = this.#chunks[this.#head]
      this.#chunks[this.#head++] = EMPTY
      if (this.#head > 1024 && this.#head * 2 > this.#chunks.length) {
        this.#chunks = this.#chunks.slice(this.#head)
        this.#head = 0
      }
      this.#bytes -= chunk.byteLength + CHUNK_OVERHEAD
      if (this.#paused && this.#bytes <= STREAM_HIGH_WATER) this.#resume()
      return Promise.resolve({ value: chunk, done: false })
    }
    switch (this.#state) {
      case 'failed':
        return Promise.reject(this.#error)
      case 'ended':
        this.#state = 'complete'
        return Promise.resolve({ value: undefined, done: true })
      case 'complete':
      case 'abandoned':
        return Promise.resolve({ value: undefined, done: true })
    }
    if (this.#waiter) return Promise.reject(new TypeError('a snapshot stream is read one chunk at a time'))
    if (this.#paused) this.#resume()
    this.#idle = setTimeout(() => this.#stall(), this.#idleMs)
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject }
    })
  }

  return(): Promise<IteratorResult<Uint8Array>> {
    if (this.live) {
      this.#state = 'abandoned'
      this.#drop()
      const w = this.#waiter
      this.#waiter = undefined
      w?.resolve({ value: undefined, done: true })
      // Nothing more is read; the node's settling (or the grace) ends the stream.
      if (!this.#paused) {
        this.#paused = true
        this.#flow.pause()
      }
      this.#grace = setTimeout(() => {
        this.#grace = undefined
        this.#flow.abandoned()
      }, ABANDON_GRACE_MS)
    }
    return Promise.resolve({ value: undefined, done: true })
  }

  /** The node settled, or the connection is gone: a stream still live fails with `err`; no timer is left. */
  dispose(err: Error): void {
    this.fail(err)
    clearTimeout(this.#grace)
    this.#grace = undefined
  }

  #resume(): void {
    this.#paused = false
    this.#flow.resume()
  }

  #stall(): void {
    this.#idle = undefined
    if (this.#state !== 'open' || !this.#waiter) return
    this.fail(new TimeoutError(`the snapshot stream from node ${this.#from} brought nothing for ${this.#idleMs} ms`))
    this.#flow.stalled()
  }

  #clearIdle(): void {
    clearTimeout(this.#idle)
    this.#idle = undefined
  }

  #drop(): void {
    this.#clearIdle()
    this.#chunks = []
    this.#head = 0
    this.#bytes = 0
    // Nothing is read any more: a paused connection stays paused until its owner closes it.
  }
}

const EMPTY = new Uint8Array(0)

/**
 * Resolves once a writable stream that refused a write (`write()` returned false) drains, or
 * closes: the writer then checks whether it may go on.
 */
export function drained(stream: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done)
      stream.off('close', done)
      resolve()
    }
    stream.on('drain', done)
    stream.on('close', done)
  })
}
