/**
 * The handshake that opens every link between two nodes, as primitives shared by the network
 * transports.
 *
 * 1. The dialer sends a {@link Hello}: wire version, cluster id, its id (`from`), the id it
 *    expects to reach (`to`) and a fresh client nonce.
 * 2. The acceptor checks it ({@link checkHello}: same cluster, `to` is itself, `from` is a peer it
 *    knows) and answers with its own nonce and, with a secret, its {@link proof} for role `server`.
 * 3. The dialer checks that proof and answers with its proof for role `client`; the acceptor
 *    checks it. Only then do frames flow.
 *
 * A proof is an HMAC-SHA256 keyed by the shared secret over a domain tag, the role, the cluster id,
 * both node ids and both nonces: it proves knowledge of the secret without sending it, binds the
 * answer to this link and this exchange (a recorded proof is worthless on another connection, whose
 * nonces differ), and the role keeps a server proof from being reflected back as a client proof.
 * Without a secret the handshake still refuses another cluster and an unknown node.
 *
 * @module
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { UnauthorizedError } from '../lib/errors.js'
import type { NodeId } from '../lib/raft/types.js'
import { WIRE_VERSION } from './wire.js'

/** What a transport needs to take part in the handshake. */
export interface HandshakeOptions {
  /** Nodes of other clusters are refused. */
  clusterId: string
  /** A secret shared by every node of the cluster; without it nodes are not authenticated. */
  secret?: string
}

/** What a dialer sends first. */
export interface Hello {
  /** The wire version ({@link WIRE_VERSION}). */
  v: number
  cluster: string
  from: NodeId
  to: NodeId
  /** 16 random bytes. */
  nonce: Uint8Array
}

/** The byte length of a nonce. */
export const NONCE_BYTES = 16

const DOMAIN = 'metastore/transport/v1'

/** 16 random bytes. */
export function newNonce(): Uint8Array {
  const b = randomBytes(NONCE_BYTES)
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

function field(h: ReturnType<typeof createHmac>, value: string | Uint8Array): void {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value
  const len = Buffer.alloc(4)
  len.writeUInt32BE(bytes.byteLength)
  h.update(len)
  h.update(bytes)
}

/**
 * HMAC-SHA256 keyed by `secret` over a domain tag, `role`, the cluster id, both node ids and both
 * nonces (each field length-prefixed, so no two inputs share an encoding). `from` is always the
 * dialer and `to` the acceptor, whichever side computes the proof; the secret itself never leaves.
 */
export function proof(
  secret: string,
  role: 'client' | 'server',
  cluster: string,
  from: NodeId,
  to: NodeId,
  clientNonce: Uint8Array,
  serverNonce: Uint8Array,
): Uint8Array {
  const h = createHmac('sha256', secret)
  field(h, DOMAIN)
  field(h, role)
  field(h, cluster)
  field(h, String(from))
  field(h, String(to))
  field(h, clientNonce)
  field(h, serverNonce)
  const d = h.digest()
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength)
}

/** Compares in constant time (`crypto.timingSafeEqual`); false for anything but bytes of the expected length. */
export function verifyProof(expected: Uint8Array, got: unknown): boolean {
  if (!(got instanceof Uint8Array) || got.byteLength !== expected.byteLength) return false
  return timingSafeEqual(expected, got)
}

function isId(v: unknown): v is NodeId {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0
}

/**
 * Checks the shape of a decoded Hello (throws {@link UnauthorizedError} with reason `protocol`),
 * then that it is for this cluster (`cluster`), for this node and from a node it knows (`node`).
 *
 * @param value what the dialer sent, decoded
 * @param self this node's id
 * @param isKnown whether a node id is a peer of this node
 */
export function checkHello(value: unknown, options: HandshakeOptions, self: NodeId, isKnown: (id: NodeId) => boolean): Hello {
  const hello = parseHello(value)
  if (hello.cluster !== options.clusterId) {
    throw new UnauthorizedError('cluster', `refused node ${hello.from} of cluster ${JSON.stringify(hello.cluster.slice(0, 64))}`)
  }
  if (hello.to !== self) throw new UnauthorizedError('node', `refused node ${hello.from}: it wants node ${hello.to}, this is node ${self}`)
  if (hello.from === self || !isKnown(hello.from)) throw new UnauthorizedError('node', `refused node ${hello.from}: not a known peer`)
  return hello
}

/** Checks the shape of a Hello only; throws {@link UnauthorizedError} with reason `protocol`. */
export function parseHello(value: unknown): Hello {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UnauthorizedError('protocol', 'the hello is not an object')
  const h = value as Record<string, unknown>
  if (h.v !== WIRE_VERSION) throw new UnauthorizedError('protocol', `wire version ${String(h.v).slice(0, 16)} is not ${WIRE_VERSION}`)
  if (typeof h.cluster !== 'string' || h.cluster.length > 1024) throw new UnauthorizedError('protocol', 'the hello has no cluster id')
  if (!isId(h.from) || !isId(h.to)) throw new UnauthorizedError('protocol', 'the hello has no valid node ids')
  if (!(h.nonce instanceof Uint8Array) || h.nonce.byteLength !== NONCE_BYTES) throw new UnauthorizedError('protocol', 'the hello has no valid nonce')
  return { v: h.v, cluster: h.cluster, from: h.from, to: h.to, nonce: h.nonce }
}
