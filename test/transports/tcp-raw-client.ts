// A hand-driven client of the TCP transport's protocol, for tests that speak it wrongly on purpose.
import { connect, type Socket } from 'node:net'
import { proof } from '../../transports/auth.js'
import { FrameKind, FrameReader, frame, packControl, unpackControl, type Frame } from '../../transports/tcp-frames.js'
import { WIRE_VERSION } from '../../transports/wire.js'

export interface RawHello {
  clusterId: string
  secret?: string
  from: number
  to: number
}

/** A raw socket to a transport, with helpers to run (or break) the handshake. */
export class RawClient {
  readonly socket: Socket
  readonly closed: Promise<void>
  readonly frames: Frame[] = []
  #waiters: Array<() => void> = []
  #reader = new FrameReader(() => 4096)

  private constructor(socket: Socket) {
    this.socket = socket
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()))
    socket.on('error', () => {})
    socket.on('data', (chunk: Buffer) => {
      try {
        this.#reader.push(chunk, (f) => this.frames.push(f))
      } catch {
        socket.destroy()
      }
      this.#wake()
    })
    socket.on('close', () => this.#wake())
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host })
      s.once('connect', () => {
        s.off('error', reject)
        resolve(new RawClient(s))
      })
      s.once('error', reject)
    })
  }

  #wake(): void {
    const w = this.#waiters
    this.#waiters = []
    for (const fn of w) fn()
  }

  /** The next frame from the server, or undefined once the connection is closed. */
  async next(): Promise<Frame | undefined> {
    for (;;) {
      const f = this.frames.shift()
      if (f) return f
      if (this.socket.destroyed || this.socket.readableEnded) return undefined
      await new Promise<void>((r) => this.#waiters.push(r))
    }
  }

  write(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes)
  }

  /** Runs the handshake; resolves 'ready', or the refusal reason the server gave, or 'closed'. */
  async handshake(h: RawHello, nonce = new Uint8Array(16).fill(7)): Promise<string> {
    this.write(frame(FrameKind.Hello, packControl({ v: WIRE_VERSION, cluster: h.clusterId, from: h.from, to: h.to, nonce })))
    const ch = await this.next()
    if (!ch) return 'closed'
    if (ch.kind === FrameKind.Refuse) return String(unpackControl(ch.payload).reason)
    const c = unpackControl(ch.payload)
    const auth: Record<string, unknown> = {}
    if (h.secret !== undefined) auth.proof = proof(h.secret, 'client', h.clusterId, h.from, h.to, nonce, c.nonce as Uint8Array)
    this.write(frame(FrameKind.Auth, packControl(auth)))
    const r = await this.next()
    if (!r) return 'closed'
    if (r.kind === FrameKind.Refuse) return String(unpackControl(r.payload).reason)
    return r.kind === FrameKind.Ready ? 'ready' : `unexpected ${FrameKind[r.kind]}`
  }

  close(): void {
    this.socket.destroy()
  }
}
