/**
 * The dialer's side of a TCP link: connect (plain or TLS), then the handshake of `auth.ts`. The
 * result is a socket on which this side writes frames; the acceptor says nothing more, but for
 * the acknowledgement of a snapshot.
 *
 * @module
 */
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls'
import { UnauthorizedError } from '../lib/errors.js'
import type { NodeId } from '../lib/raft/types.js'
import { newNonce, proof, verifyProof, type HandshakeOptions } from './auth.js'
import { FrameKind, FrameReader, MAX_HANDSHAKE_FRAME, frame, packControl, unpackControl, type Frame } from './tcp-frames.js'
import { WIRE_VERSION } from './wire.js'

/** Where a peer listens. */
export interface TcpAddress {
  readonly host: string
  readonly port: number
}

/** What {@link dial} needs. */
export interface DialOptions extends HandshakeOptions {
  readonly self: NodeId
  readonly to: NodeId
  readonly address: TcpAddress
  /** TLS client options (`ca`, and `key`/`cert` for mutual TLS); plain TCP without. */
  readonly tls?: ConnectionOptions
  /** Bound on connect plus handshake. */
  readonly timeoutMs: number
}

/** The acceptor refused this node (its answer says why); a plain {@link UnauthorizedError} is this side refusing the acceptor. */
export class PeerRefusedError extends UnauthorizedError {}

const REASONS = new Set(['cluster', 'node', 'secret', 'protocol'])

/**
 * Connects to a peer and runs the handshake. Resolves with the open socket (with no `data`
 * listener: the caller reads what the acceptor may still say); rejects with an
 * {@link UnauthorizedError} when either side refuses the other, or with the network error.
 * `track` is given the socket at once, so that a transport being closed can destroy it mid-dial.
 */
export function dial(o: DialOptions, track: (socket: Socket) => void): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const socket = o.tls
      ? tlsConnect({ ...o.tls, host: o.address.host, port: o.address.port, servername: o.tls.servername ?? sniName(o.address.host) })
      : netConnect({ host: o.address.host, port: o.address.port })
    track(socket)
    let done = false
    const clientNonce = newNonce()
    let step: 'challenge' | 'ready' = 'challenge'
    const finish = (err: Error | undefined): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.off('data', onData)
      if (err) {
        socket.destroy()
        reject(err)
      } else {
        socket.setTimeout(0)
        resolve(socket)
      }
    }
    const timer = setTimeout(() => finish(new Error(`connecting to node ${o.to} at ${o.address.host}:${o.address.port} timed out`)), o.timeoutMs)
    socket.on('error', (err) => finish(err))
    socket.on('close', () => finish(new Error(`node ${o.to} closed the connection during the handshake`)))
    const reader = new FrameReader((kind) => {
      if (step === 'challenge') return kind === FrameKind.Challenge || kind === FrameKind.Refuse ? MAX_HANDSHAKE_FRAME : 0
      return kind === FrameKind.Ready || kind === FrameKind.Refuse ? MAX_HANDSHAKE_FRAME : 0
    })
    const onFrame = (f: Frame): void => {
      if (done) return
      if (f.kind === FrameKind.Refuse) {
        const r = unpackControl(f.payload)
        const reason = typeof r.reason === 'string' && REASONS.has(r.reason) ? (r.reason as UnauthorizedError['reason']) : 'protocol'
        const message = typeof r.message === 'string' ? r.message.slice(0, 200) : 'no reason given'
        return finish(new PeerRefusedError(reason, `node ${o.to} refused this node: ${message}`))
      }
      if (f.kind === FrameKind.Ready) return finish(undefined)
      const ch = unpackControl(f.payload)
      if (ch.cluster !== o.clusterId) return finish(new UnauthorizedError('cluster', `the node at ${o.address.host}:${o.address.port} is not of cluster ${o.clusterId}`))
      if (ch.id !== o.to) return finish(new UnauthorizedError('node', `the node at ${o.address.host}:${o.address.port} is not node ${o.to}`))
      if (!(ch.nonce instanceof Uint8Array) || ch.nonce.byteLength !== clientNonce.byteLength) return finish(new UnauthorizedError('protocol', 'the challenge has no valid nonce'))
      const auth: Record<string, unknown> = {}
      if (o.secret !== undefined) {
        const expected = proof(o.secret, 'server', o.clusterId, o.self, o.to, clientNonce, ch.nonce)
        if (!verifyProof(expected, ch.proof)) return finish(new UnauthorizedError('secret', `node ${o.to} did not prove the shared secret`))
        auth.proof = proof(o.secret, 'client', o.clusterId, o.self, o.to, clientNonce, ch.nonce)
      }
      step = 'ready'
      socket.write(frame(FrameKind.Auth, packControl(auth)))
    }
    const onData = (chunk: Buffer): void => {
      try {
        reader.push(chunk, onFrame)
      } catch (err) {
        finish(err instanceof Error ? err : new Error(String(err)))
      }
    }
    socket.on('data', onData)
    socket.once(o.tls ? 'secureConnect' : 'connect', () => {
      if (done) return
      socket.setNoDelay(true)
      socket.setKeepAlive(true, 10_000)
      socket.write(frame(FrameKind.Hello, packControl({ v: WIRE_VERSION, cluster: o.clusterId, from: o.self, to: o.to, nonce: clientNonce })))
    })
  })
}

/** TLS server name indication takes host names only, not IP addresses. */
function sniName(host: string): string | undefined {
  return /^[\d.]+$/.test(host) || host.includes(':') ? undefined : host
}
