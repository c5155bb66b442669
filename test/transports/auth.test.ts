// The handshake primitives: nonces, proofs bound to every input, constant-time checks, and the
// checks of a Hello with the reason of each refusal.
import t from 'tap'
import { UnauthorizedError } from '../../lib/errors.js'
import { checkHello, newNonce, NONCE_BYTES, parseHello, proof, verifyProof } from '../../transports/auth.js'
import { WIRE_VERSION } from '../../transports/wire.js'

const cn = new Uint8Array(16).fill(1)
const sn = new Uint8Array(16).fill(2)

t.test('nonces', async (t) => {
  const a = newNonce()
  const b = newNonce()
  t.equal(a.byteLength, NONCE_BYTES)
  t.equal(NONCE_BYTES, 16)
  t.notSame(a, b, 'two nonces differ')
})

t.test('a proof depends on every input', async (t) => {
  const base = proof('secret', 'client', 'c1', 1, 2, cn, sn)
  t.equal(base.byteLength, 32, 'HMAC-SHA256')
  t.ok(verifyProof(base, proof('secret', 'client', 'c1', 1, 2, cn, sn)), 'deterministic')
  const flip = (n: Uint8Array) => {
    const c = new Uint8Array(n)
    c[0] ^= 1
    return c
  }
  const variants: Array<[string, Uint8Array]> = [
    ['secret', proof('secre7', 'client', 'c1', 1, 2, cn, sn)],
    ['role', proof('secret', 'server', 'c1', 1, 2, cn, sn)],
    ['cluster', proof('secret', 'client', 'c2', 1, 2, cn, sn)],
    ['from', proof('secret', 'client', 'c1', 3, 2, cn, sn)],
    ['to', proof('secret', 'client', 'c1', 1, 3, cn, sn)],
    ['client nonce', proof('secret', 'client', 'c1', 1, 2, flip(cn), sn)],
    ['server nonce', proof('secret', 'client', 'c1', 1, 2, cn, flip(sn))],
    ['ids swapped', proof('secret', 'client', 'c1', 2, 1, cn, sn)],
  ]
  for (const [what, p] of variants) t.notOk(verifyProof(base, p), `another ${what}, another proof`)
  // Fields are length-prefixed: moving a digit from one id to the other changes the proof.
  t.notOk(verifyProof(proof('s', 'client', 'c', 12, 3, cn, sn), proof('s', 'client', 'c', 1, 23, cn, sn)), 'no two inputs share an encoding')
  t.notOk(verifyProof(proof('s', 'client', 'ab', 1, 2, cn, sn), proof('s', 'client', 'a', 1, 2, cn, sn)), 'nor clusters that are prefixes of each other')
})

t.test('verifyProof is false for anything but the right bytes', async (t) => {
  const p = proof('secret', 'client', 'c1', 1, 2, cn, sn)
  t.ok(verifyProof(p, new Uint8Array(p)), 'equal bytes')
  t.ok(verifyProof(p, Buffer.from(p)), 'a Buffer is bytes too')
  for (const got of [undefined, null, 'x'.repeat(32), [...p], 42, {}, p.subarray(0, 31), new Uint8Array(33), new Uint8Array(32)]) {
    t.notOk(verifyProof(p, got), `refused: ${Object.prototype.toString.call(got)} ${(got as { length?: number })?.length ?? ''}`)
  }
})

t.test('checkHello: refusals and their reasons', async (t) => {
  const options = { clusterId: 'c1' }
  const known = (id: number) => id === 1 || id === 3
  const hello = { v: WIRE_VERSION, cluster: 'c1', from: 1, to: 2, nonce: cn }
  t.strictSame(checkHello(hello, options, 2, known), hello, 'a good hello passes')
  const reason = (value: unknown): string => {
    try {
      checkHello(value, options, 2, known)
      return 'accepted'
    } catch (err) {
      return err instanceof UnauthorizedError ? err.reason : `other: ${String(err)}`
    }
  }
  t.equal(reason({ ...hello, cluster: 'c2' }), 'cluster', 'another cluster')
  t.equal(reason({ ...hello, to: 3 }), 'node', 'for another node')
  t.equal(reason({ ...hello, from: 7 }), 'node', 'from an unknown node')
  t.equal(reason({ ...hello, from: 2 }), 'node', 'from itself')
  for (const [what, bad] of [
    ['not an object', 'hello'],
    ['null', null],
    ['an array', [1, 2]],
    ['another version', { ...hello, v: 2 }],
    ['no cluster', { ...hello, cluster: undefined }],
    ['a huge cluster id', { ...hello, cluster: 'x'.repeat(2000) }],
    ['node 0', { ...hello, from: 0 }],
    ['a fractional id', { ...hello, to: 2.5 }],
    ['a short nonce', { ...hello, nonce: new Uint8Array(8) }],
    ['a string nonce', { ...hello, nonce: 'x'.repeat(16) }],
  ] as Array<[string, unknown]>) {
    t.equal(reason(bad), 'protocol', what)
  }
  t.throws(() => parseHello({}), { code: 'UNAUTHORIZED', reason: 'protocol' })
})
