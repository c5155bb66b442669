/**
 * A linearizability checker for histories of concurrent operations: Wing and Gong's search with
 * Lowe's memoisation (configurations already explored are not explored again), run separately
 * per key, since a history of independent objects is linearizable iff each object's
 * sub-history is (Herlihy and Wing's locality).
 *
 * @module
 */

/** One operation as a client saw it. */
export interface Operation<I, O> {
  /** The object the operation acts on (a key): histories are checked per key. */
  readonly key: string
  readonly input: I
  /**
   * What the client got back. `undefined` when the outcome is unknown (a timeout, a crash): the
   * operation may have taken effect at any point after its call, or never.
   */
  readonly output: O | undefined
  /** When the client called it, on any clock shared by all clients. */
  readonly call: number
  /** When the client got the answer; `undefined` (or Infinity) when it never did. */
  readonly return: number | undefined
}

/** A sequential specification of one object. */
export interface Model<S, I, O> {
  init(): S
  /**
   * Applies `input` to `state`. Returns `{ state }` (the next state) if the operation, applied
   * here, could have produced `output`, or `undefined` if not. `output` is undefined for an
   * operation whose outcome is unknown: the model then returns the state it would leave.
   */
  step(state: S, input: I, output: O | undefined): { state: S } | undefined
  /** A string that identifies a state, for memoisation. */
  hash(state: S): string
}

export interface CheckResult {
  readonly ok: boolean
  /** The key whose history is not linearizable, if any. */
  readonly key?: string
  /** Whether the search gave up (too many configurations): then `ok` says nothing. */
  readonly timedOut?: boolean
}

interface Entry {
  readonly op: number
  readonly isCall: boolean
  readonly time: number
  prev: Entry | undefined
  next: Entry | undefined
  /** For a call, its return entry. */
  match: Entry | undefined
}

/** Checks a history against a model; each key separately. */
export function checkLinearizable<S, I, O>(
  history: ReadonlyArray<Operation<I, O>>,
  model: Model<S, I, O>,
  options: { maxSteps?: number } = {},
): CheckResult {
  const byKey = new Map<string, Array<Operation<I, O>>>()
  for (const op of history) {
    let ops = byKey.get(op.key)
    if (!ops) byKey.set(op.key, (ops = []))
    ops.push(op)
  }
  let timedOut = false
  for (const key of [...byKey.keys()].sort()) {
    const r = checkOne(byKey.get(key)!, model, options.maxSteps ?? 5_000_000)
    if (r === 'timeout') timedOut = true
    else if (!r) return { ok: false, key }
  }
  return timedOut ? { ok: true, timedOut: true } : { ok: true }
}

function checkOne<S, I, O>(ops: ReadonlyArray<Operation<I, O>>, model: Model<S, I, O>, maxSteps: number): boolean | 'timeout' {
  // Build the event list: calls and returns in time order. At equal times calls come first: two
  // operations that meet at one instant are treated as concurrent (the reading that never claims
  // a violation that did not happen), and an operation that returned the instant it was called
  // keeps its call before its return.
  const events: Entry[] = []
  ops.forEach((o, i) => {
    const call: Entry = { op: i, isCall: true, time: o.call, prev: undefined, next: undefined, match: undefined }
    const ret: Entry = { op: i, isCall: false, time: o.return ?? Infinity, prev: undefined, next: undefined, match: undefined }
    call.match = ret
    events.push(call, ret)
  })
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.op - b.op : a.isCall ? -1 : 1))
  const head: Entry = { op: -1, isCall: false, time: -Infinity, prev: undefined, next: undefined, match: undefined }
  let prev = head
  for (const e of events) {
    prev.next = e
    e.prev = prev
    prev = e
  }

  const lift = (e: Entry): void => {
    // Remove a call and its return from the list.
    e.prev!.next = e.next
    if (e.next) e.next.prev = e.prev
    const r = e.match!
    r.prev!.next = r.next
    if (r.next) r.next.prev = r.prev
  }
  const unlift = (e: Entry): void => {
    const r = e.match!
    r.prev!.next = r
    if (r.next) r.next.prev = r
    e.prev!.next = e
    if (e.next) e.next.prev = e
  }

  // The set of operations linearized so far is identified by two running 32-bit hashes (XOR of
  // a fixed random value per operation), so that the memo key costs O(1) to maintain. A collision
  // would need both to agree: about one chance in 2^64 per pair of sets.
  const salt1 = new Uint32Array(ops.length)
  const salt2 = new Uint32Array(ops.length)
  let x = 0x9e3779b9
  for (let i = 0; i < ops.length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    salt1[i] = x >>> 0
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    salt2[i] = x >>> 0
  }
  let h1 = 0
  let h2 = 0
  const seen = new Set<string>()
  const stack: Array<{ entry: Entry; state: S }> = []
  let state = model.init()
  let entry = head.next
  let steps = 0
  while (head.next !== undefined) {
    if (++steps > maxSteps) return 'timeout'
    // Only operations of unknown outcome left: they may simply never have happened.
    if (onlyUnknownLeft(head)) return true
    if (entry === undefined) return false
    if (entry.isCall) {
      const op = ops[entry.op]
      const next = model.step(state, op.input, op.output)
      if (next !== undefined) {
        const n1 = (h1 ^ salt1[entry.op]) >>> 0
        const n2 = (h2 ^ salt2[entry.op]) >>> 0
        const key = `${n1}:${n2}|${model.hash(next.state)}`
        if (!seen.has(key)) {
          seen.add(key)
          stack.push({ entry, state })
          state = next.state
          h1 = n1
          h2 = n2
          lift(entry)
          entry = head.next
          continue
        }
      }
      entry = entry.next
    } else {
      // A return reached before its operation could be placed: undo the last choice.
      const top = stack.pop()
      if (!top) return false
      state = top.state
      h1 = (h1 ^ salt1[top.entry.op]) >>> 0
      h2 = (h2 ^ salt2[top.entry.op]) >>> 0
      unlift(top.entry)
      entry = top.entry.next
    }
  }
  return true
}

function onlyUnknownLeft(head: Entry): boolean {
  for (let e = head.next; e !== undefined; e = e.next) {
    if (!e.isCall && e.time !== Infinity) return false
  }
  return true
}

/** Operations on one key of a key-value store, with etcd's answers. */
export type KvInput =
  | { readonly type: 'get' }
  | { readonly type: 'put'; readonly value: string }
  | { readonly type: 'delete' }
  | { readonly type: 'cas'; readonly expected: string | undefined; readonly value: string }

/**
 * get: the value, or `null` if the key is absent; put: `true`; delete: how many keys it deleted;
 * cas: whether it swapped. (`undefined` is reserved for an unknown outcome.)
 */
export type KvOutput = string | null | number | boolean

/** The sequential specification of one key of a key-value store. */
export const kvModel: Model<string | undefined, KvInput, KvOutput> = {
  init: () => undefined,
  step(state, input, output) {
    const unknown = output === undefined
    switch (input.type) {
      case 'get':
        // A read whose answer never came tells nothing.
        return unknown || output === (state ?? null) ? { state } : undefined
      case 'put':
        return { state: input.value }
      case 'delete':
        if (unknown) return { state: undefined }
        return output === (state === undefined ? 0 : 1) ? { state: undefined } : undefined
      case 'cas': {
        const swaps = state === input.expected
        if (!unknown && output !== swaps) return undefined
        return { state: swaps ? input.value : state }
      }
    }
  },
  hash: (s) => (s === undefined ? '\u0000' : `=${s}`),
}
