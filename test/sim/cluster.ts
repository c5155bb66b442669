import { SeededRng } from '../../lib/raft/rng.js'
import { MessageType, type ConfChange, type ConfState, type Message } from '../../lib/raft/types.js'
import { ElectionSafetyChecker } from './checkers/election-safety.js'
import { LeaderCompletenessChecker } from './checkers/leader-completeness.js'
import { LinearizableReadChecker } from './checkers/linearizable-reads.js'
import { LogMatchingChecker } from './checkers/log-matching.js'
import { StateMachineSafetyChecker } from './checkers/state-machine-safety.js'
import { Violation } from './checkers/violation.js'
import { EventHeap } from './heap.js'
import type { SimOptions } from './options.js'
import { checkLinearizable, kvModel, type KvInput, type KvOutput, type Operation } from '../../lib/testing/linearizability.js'
import { entryHash, fnv, SimNode } from './sim-node.js'

type SimEvent =
  | { time: number; seq: number; kind: 'tick'; node: number; inc: number }
  | { time: number; seq: number; kind: 'deliver'; msg: Message }
  | { time: number; seq: number; kind: 'persisted'; node: number; inc: number }
  | { time: number; seq: number; kind: 'snap-status'; node: number; inc: number; to: number; ok: boolean }
  | { time: number; seq: number; kind: 'unreachable'; node: number; inc: number; to: number }
  | { time: number; seq: number; kind: 'restart'; node: number }
  | { time: number; seq: number; kind: 'heal'; partition: number }
  | { time: number; seq: number; kind: 'fault'; fault: FaultKind }

type FaultKind = 'partition' | 'crash' | 'conf-change' | 'transfer' | 'propose' | 'read'

export interface SimStats {
  elections: number
  committed: number
  applied: number
  readsConfirmed: number
  crashes: number
  partitions: number
  confChanges: number
  transfers: number
  snapshotsSent: number
  messages: number
  dropped: number
  /** Client operations checked for linearizability, and searches that gave up. */
  linearizabilityOps: number
  linearizabilityTimeouts: number
  finalMembers: string
  traceHash: string
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * A whole cluster on a simulated network and clock, driven by one seed. The Raft code is the real
 * core; only time, the network and the disk are simulated.
 */
export class Cluster {
  readonly options: SimOptions
  readonly nodes = new Map<number, SimNode>()
  now = 0
  readonly #rng: SeededRng
  readonly #events = new EventHeap<SimEvent>()
  #seq = 0
  readonly #partitions = new Map<number, Set<string>>()
  #partitionSeq = 0
  #liveness = false
  #dropRate: number
  #duplicateRate: number
  #proposals = 0
  #reads = 0
  #nextId: number
  #trace = 0x811c9dc5
  readonly #verbose: boolean
  readonly #log: (line: string) => void
  readonly electionSafety = new ElectionSafetyChecker()
  readonly logMatching = new LogMatchingChecker()
  readonly leaderCompleteness = new LeaderCompletenessChecker()
  readonly stateMachine = new StateMachineSafetyChecker()
  readonly reads = new LinearizableReadChecker()
  /** The membership at the highest applied conf change, as applied anywhere. */
  #latestConf: { index: number; cs: ConfState } = { index: 0, cs: { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } }
  #committedAnywhere = 0
  readonly stats = { elections: 0, crashes: 0, partitions: 0, confChanges: 0, transfers: 0, snapshotsSent: 0, messages: 0, dropped: 0, linearizabilityOps: 0, linearizabilityTimeouts: 0 }
  /** Every client operation, for the linearizability check at the end. */
  readonly history: Array<Operation<KvInput, KvOutput>> = []
  readonly #pendingPuts = new Map<string, { op: number; node: number; inc: number }>()
  readonly #pendingReads = new Map<string, { op: number; node: number; inc: number }>()
  /** Reads confirmed by ReadIndex, waiting for their node to apply up to their index. */
  readonly #servable: Array<{ op: number; node: number; inc: number; index: number }> = []
  #marker: Uint8Array | undefined
  readonly #markerApplied = new Set<number>()

  constructor(options: SimOptions, log?: (line: string) => void) {
    this.options = options
    this.#rng = new SeededRng(options.seed)
    this.#dropRate = options.dropRate
    this.#duplicateRate = options.duplicateRate
    this.#verbose = log !== undefined
    this.#log = log ?? (() => {})
    const peers = Array.from({ length: options.nodes }, (_, i) => i + 1)
    this.#nextId = options.nodes + 1
    for (const id of peers) this.#addNode(id, peers)
  }

  #addNode(id: number, peers: readonly number[] | undefined): SimNode {
    const n = new SimNode(id, this.options, this.#rng.fork(), peers)
    this.nodes.set(id, n)
    this.#start(n)
    return n
  }

  #start(n: SimNode): void {
    n.start()
    this.#trace_(`start ${n.id}`)
    // Each node ticks on its own schedule: a random phase, as real timers would be.
    this.#schedule({ kind: 'tick', node: n.id, inc: n.incarnation }, 1 + this.#rng.int(this.options.tickMs))
    this.#afterMutation(n)
  }

  #schedule(e: DistributiveOmit<SimEvent, 'time' | 'seq'>, delay: number): void {
    this.#events.push({ ...e, time: this.now + delay, seq: this.#seq++ } as SimEvent)
  }

  #trace_(line: string): void {
    this.#trace = fnv(this.#trace, encoder.encode(`${this.now}|${line}`))
    if (this.#verbose) this.#log(`${String(this.now).padStart(6)} ${line}`)
  }

  /** Runs the safety phase with faults, then the liveness phase. Throws a Violation on failure. */
  run(): SimStats {
    for (const f of ['partition', 'crash', 'conf-change', 'transfer', 'propose', 'read'] as const) this.#scheduleFault(f)
    this.#runUntil(this.options.safetyMs)
    this.#enterLiveness()
    const deadline = this.now + this.options.livenessMs + this.#backlogAllowance()
    let nextCheck = this.now
    for (;;) {
      if (this.now >= nextCheck) {
        if (this.#converged()) break
        nextCheck = this.now + 20
      }
      if (this.now >= deadline) {
        throw new Violation('liveness', 'liveness', this.now, `no convergence within ${deadline - this.options.safetyMs}ms after healing: ${this.#describe()}; marker applied on (${[...this.#markerApplied].sort().join(' ')})`)
      }
      if (!this.#step(nextCheck)) this.now = nextCheck
    }
    this.#checkHistory()
    return {
      ...this.stats,
      elections: this.electionSafety.terms,
      committed: this.leaderCompleteness.maxCommitted,
      applied: this.stateMachine.maxApplied,
      readsConfirmed: this.reads.confirmed,
      finalMembers: `voters=(${this.#latestConf.cs.voters.join(' ')}) learners=(${this.#latestConf.cs.learners.join(' ')})`,
      traceHash: this.#trace.toString(16).padStart(8, '0'),
    }
  }

  #runUntil(t: number): void {
    while (this.#step(t)) {
      /* run */
    }
    this.now = Math.max(this.now, t)
  }

  /** Handles the next event if it is due by `until`. Returns false if none is. */
  #step(until: number): boolean {
    const e = this.#events.peek()
    if (!e || e.time > until) return false
    this.#events.pop()
    this.now = e.time
    try {
      this.#handle(e)
    } catch (err) {
      if (err instanceof Violation) throw err
      const msg = err instanceof Error ? (err.stack ?? err.message) : String(err)
      throw new Violation('crash', 'no exception', this.now, `${e.kind} event threw: ${msg}`)
    }
    return true
  }

  #handle(e: SimEvent): void {
    switch (e.kind) {
      case 'tick': {
        const n = this.nodes.get(e.node)!
        if (!n.raw || n.incarnation !== e.inc) return
        n.raw.tick()
        this.#afterMutation(n)
        this.#schedule({ kind: 'tick', node: n.id, inc: n.incarnation }, this.options.tickMs)
        return
      }
      case 'deliver': {
        const n = this.nodes.get(e.msg.to)
        if (!n || !n.raw) return
        if (this.#blocked(e.msg.from, e.msg.to)) {
          this.stats.dropped++
          return
        }
        this.#trace_(`deliver ${MessageType[e.msg.type]} ${e.msg.from}->${e.msg.to} t${e.msg.term} i${e.msg.index} n${e.msg.entries.length}${e.msg.reject ? ` REJECT hint ${e.msg.rejectHint}@${e.msg.logTerm}` : ""} c${e.msg.commit}`)
        n.raw.step(e.msg)
        this.#afterMutation(n)
        return
      }
      case 'persisted': {
        const n = this.nodes.get(e.node)!
        if (!n.raw || n.incarnation !== e.inc || !n.pendingReady) return
        this.#completeReady(n)
        return
      }
      case 'snap-status': {
        const n = this.nodes.get(e.node)!
        if (!n.raw || n.incarnation !== e.inc) return
        n.raw.reportSnapshot(e.to, e.ok)
        this.#afterMutation(n)
        return
      }
      case 'unreachable': {
        const n = this.nodes.get(e.node)!
        if (!n.raw || n.incarnation !== e.inc) return
        n.raw.reportUnreachable(e.to)
        this.#afterMutation(n)
        return
      }
      case 'restart': {
        const n = this.nodes.get(e.node)!
        if (n.raw || n.retired) return
        this.#start(n)
        return
      }
      case 'heal':
        this.#partitions.delete(e.partition)
        this.#trace_(`heal partition ${e.partition}`)
        return
      case 'fault':
        if (this.#liveness) return
        this.#fault(e.fault)
        this.#scheduleFault(e.fault)
        return
    }
  }

  // --- The driver loop of each node -----------------------------------------------------------

  /** Runs the checkers that look at a node's state after each input, then its Ready loop. */
  #afterMutation(n: SimNode): void {
    this.#observe(n)
    this.#maybeStartReady(n)
  }

  #observe(n: SimNode): void {
    const raft = n.raw!.raft
    if (raft.state === 'leader' && (n.lastRole !== 'leader' || n.lastTerm !== raft.term)) {
      this.#trace_(`leader ${n.id} term ${raft.term}`)
      this.electionSafety.becameLeader(n.id, raft.term, this.now)
      this.leaderCompleteness.becameLeader(n.id, raft.term, (i) => raft.log.termOrUndefined(i), raft.log.firstIndex(), this.now)
    }
    if (raft.state !== n.lastRole && raft.state !== 'leader') this.#trace_(`${n.id} became ${raft.state} term ${raft.term}`)
    n.lastRole = raft.state
    n.lastTerm = raft.term
    const committed = raft.log.committed
    if (committed > n.lastCommitted) {
      if (raft.state === 'leader') {
        for (let i = n.lastCommitted + 1; i <= committed; i++) {
          const t = raft.log.termOrUndefined(i)
          if (t !== undefined) this.leaderCompleteness.committed(i, t, raft.term, this.now)
        }
      }
      n.lastCommitted = committed
      if (committed > this.#committedAnywhere) this.#committedAnywhere = committed
    }
  }

  #maybeStartReady(n: SimNode): void {
    while (n.raw && !n.pendingReady && n.raw.hasReady()) {
      n.pendingReady = n.raw.ready()
      const latency = this.options.maxDiskMs > 0 ? this.#rng.int(this.options.maxDiskMs + 1) : 0
      if (latency > 0) {
        this.#schedule({ kind: 'persisted', node: n.id, inc: n.incarnation }, latency)
        return
      }
      this.#completeReady(n, false)
    }
  }

  /** The Ready's write is durable: send, apply, advance (the driver's contract, in order). */
  #completeReady(n: SimNode, thenLoop = true): void {
    const rd = n.pendingReady!
    const raw = n.raw!
    n.persist(rd)
    for (const e of rd.entries) {
      let prevTerm: number | undefined
      try {
        prevTerm = n.disk.term(e.index - 1)
      } catch {
        prevTerm = undefined
      }
      this.logMatching.persisted(n.id, e.index, e.term, entryHash(e), prevTerm, this.now)
    }
    for (const m of rd.messages) this.#send(m)
    if (rd.snapshot) {
      n.restoreSnapshot(rd.snapshot)
      this.#trace_(`${n.id} restored snapshot ${rd.snapshot.metadata.index}`)
      this.stateMachine.restored(n.id, rd.snapshot.metadata.index, n.state.hash, this.now)
    }
    for (const e of rd.committedEntries) {
      if (e.type === 1) this.#trace_(`${n.id} applies conf change ${e.index}@${e.term}: ${decoder.decode(e.data)}`)
      const prev = n.state.index
      const cmd = n.apply(e)
      this.stateMachine.applied(n.id, prev, e.index, e.term, entryHash(e), n.state.hash, this.now)
      const pending = cmd ? this.#pendingPuts.get(cmd.body) : undefined
      if (pending && pending.node === n.id && pending.inc === n.incarnation) {
        // Acknowledged to the client: its own node applied it.
        const op = this.history[pending.op]
        this.history[pending.op] = { ...op, output: true, return: this.now }
        this.#pendingPuts.delete(cmd!.body)
      }
      if (e.type === 1 && e.index > this.#latestConf.index) this.#latestConf = { index: e.index, cs: n.confState }
      if (this.#marker && e.data.length === this.#marker.length && decoder.decode(e.data) === decoder.decode(this.#marker)) {
        this.#markerApplied.add(n.id)
      }
    }
    for (const rs of rd.readStates) {
      const ctx = decoder.decode(rs.context)
      this.reads.answered(ctx, n.id, rs.index, this.now)
      const pending = this.#pendingReads.get(ctx)
      if (pending && pending.node === n.id && pending.inc === n.incarnation) {
        this.#pendingReads.delete(ctx)
        this.#servable.push({ ...pending, index: rs.index })
      }
    }
    this.#serveReads(n)
    n.pendingReady = undefined
    raw.advance()
    n.maybeSnapshot()
    if (n.isMember()) n.wasMember = true
    else if (n.wasMember && !n.removed) {
      // It applied its own removal. It keeps running (it may still be needed to vote for the
      // node that commits the change on the others) until the remaining members know.
      n.removed = true
      this.#trace_(`${n.id} applied its removal`)
    }
    this.#observe(n)
    if (thenLoop) this.#maybeStartReady(n)
  }

  /** Serves the reads of `n` whose read index it has applied: the value of the key now. */
  #serveReads(n: SimNode): void {
    for (let i = 0; i < this.#servable.length; i++) {
      const r = this.#servable[i]
      if (r.node !== n.id || r.inc !== n.incarnation || r.index > n.state.index) continue
      const op = this.history[r.op]
      this.history[r.op] = { ...op, output: n.state.kv[op.key] ?? null, return: this.now }
      this.#servable.splice(i--, 1)
    }
  }

  /**
   * The client history is linearizable. A write whose outcome is unknown and whose value nobody
   * read is dropped first: it may always be taken as never having happened, and keeping it only
   * makes the search larger.
   */
  #checkHistory(): void {
    const observed = new Set<KvOutput>()
    for (const op of this.history) if (op.input.type === 'get' && op.output !== undefined) observed.add(op.output)
    // A read that never got an answer constrains nothing either.
    const history = this.history.filter(
      (op) => op.output !== undefined || (op.input.type === 'put' && observed.has(op.input.value)),
    )
    const r = checkLinearizable(history, kvModel, { maxSteps: 300_000 })
    if (!r.ok) throw new Violation('correctness', 'linearizability', this.now, `the history of key ${r.key} is not linearizable`)
    this.stats.linearizabilityOps = history.length
    if (r.timedOut) this.stats.linearizabilityTimeouts++
  }

  #retire(n: SimNode): void {
    n.crash()
    n.retired = true
    this.reads.forgetNode(n.id)
  }

  // --- Network -------------------------------------------------------------------------------

  #blocked(from: number, to: number): boolean {
    for (const p of this.#partitions.values()) if (p.has(`${from}>${to}`)) return true
    return false
  }

  #delay(): number {
    const d = this.options.minDelayMs + this.#rng.int(this.options.maxDelayMs - this.options.minDelayMs + 1)
    if (!this.#liveness) return d
    // Raft's liveness rests on broadcast time << election timeout (§5.6). Safety must hold
    // without it, so only the liveness phase keeps a round trip, disk writes included, within
    // half the shortest election timeout.
    return Math.min(d, this.#delayBound())
  }

  #send(m: Message): void {
    this.stats.messages++
    const from = this.nodes.get(m.from)!
    const dropped = this.#blocked(m.from, m.to) || this.#rng.chance(this.#dropRate)
    if (m.type === MessageType.Snap) {
      this.stats.snapshotsSent++
      // The transport reports the outcome of a snapshot it streamed.
      const delay = this.#delay()
      this.#schedule({ kind: 'snap-status', node: m.from, inc: from.incarnation, to: m.to, ok: !dropped }, delay + 1)
      if (!dropped) this.#schedule({ kind: 'deliver', msg: m }, delay)
      return
    }
    if (dropped) {
      this.stats.dropped++
      if (this.#blocked(m.from, m.to) && this.#rng.chance(0.1)) {
        this.#schedule({ kind: 'unreachable', node: m.from, inc: from.incarnation, to: m.to }, this.#delay())
      }
      return
    }
    let delay = this.#delay()
    if (this.#liveness) {
      // Healed, the network behaves like the TCP connections of a real transport: in order per link.
      const link = `${m.from}>${m.to}`
      delay = Math.max(delay, (this.#linkClock.get(link) ?? 0) - this.now)
      this.#linkClock.set(link, this.now + delay)
    }
    this.#schedule({ kind: 'deliver', msg: m }, delay)
    if (this.#rng.chance(this.#duplicateRate)) this.#schedule({ kind: 'deliver', msg: m }, this.#delay() * 2)
  }

  // --- Faults and workload ---------------------------------------------------------------------

  #scheduleFault(f: FaultKind): void {
    const mean = {
      partition: this.options.partitionEveryMs,
      crash: this.options.crashEveryMs,
      'conf-change': this.options.confChangeEveryMs,
      transfer: this.options.transferEveryMs,
      propose: this.options.proposeEveryMs,
      read: this.options.readEveryMs,
    }[f]
    if (mean <= 0) return
    this.#schedule({ kind: 'fault', fault: f }, 1 + this.#rng.int(2 * mean))
  }

  #aliveNodes(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.raw !== undefined)
  }

  #leader(): SimNode | undefined {
    // The leader of the highest term, if several believe they lead (an old one may not know yet).
    let best: SimNode | undefined
    for (const n of this.#aliveNodes()) {
      if (n.raw!.raft.state === 'leader' && (!best || n.raw!.raft.term > best.raw!.raft.term)) best = n
    }
    return best
  }

  #fault(f: FaultKind): void {
    const rng = this.#rng
    switch (f) {
      case 'propose': {
        const alive = this.#aliveNodes()
        if (alive.length === 0) return
        const n = alive[rng.int(alive.length)]
        const size = rng.chance(0.1) ? rng.int(300) : 0
        const count = rng.chance(0.2) ? 2 : 1
        const cmds = Array.from({ length: count }, () => {
          const { client, seq } = n.nextClientSeq()
          const key = `k${rng.int(10)}`
          const value = `v${this.#proposals++}`.padEnd(size, 'x')
          return { body: `c${this.#proposals}|${client}|${seq}|${key}|${value}`, key, value }
        })
        const r = count === 2 ? n.raw!.proposeBatch(cmds.map((c) => encoder.encode(c.body))) : n.raw!.propose(encoder.encode(cmds[0].body))
        this.#trace_(`propose ${cmds.map((c) => c.body.slice(0, 24)).join(',')} at ${n.id}: ${r}`)
        if (r === 'ok') {
          // Accepted (appended, or forwarded): from now on it may take effect.
          for (const c of cmds) {
            const op = this.history.push({ key: c.key, input: { type: 'put', value: c.value }, output: undefined, call: this.now, return: undefined }) - 1
            this.#pendingPuts.set(c.body, { op, node: n.id, inc: n.incarnation })
          }
        }
        this.#afterMutation(n)
        return
      }
      case 'read': {
        const alive = this.#aliveNodes()
        if (alive.length === 0) return
        const n = alive[rng.int(alive.length)]
        const ctx = `r${this.#reads++}`
        const key = `k${rng.int(10)}`
        this.reads.issued(ctx, n.id, this.#committedAnywhere, this.now)
        const op = this.history.push({ key, input: { type: 'get' }, output: undefined, call: this.now, return: undefined }) - 1
        this.#pendingReads.set(ctx, { op, node: n.id, inc: n.incarnation })
        n.raw!.readIndex(encoder.encode(ctx))
        this.#afterMutation(n)
        return
      }
      case 'partition': {
        const ids = [...this.nodes.keys()].filter((id) => !this.nodes.get(id)!.retired).sort((a, b) => a - b)
        if (ids.length === 0) return
        const blocked = new Set<string>()
        const mode = rng.int(3)
        if (mode === 0) {
          // Isolate one node.
          const x = ids[rng.int(ids.length)]
          for (const y of ids) if (y !== x) blocked.add(`${x}>${y}`).add(`${y}>${x}`)
        } else if (mode === 1) {
          // Split in two random groups.
          const side = new Map(ids.map((id) => [id, rng.chance(0.5)]))
          for (const a of ids) for (const b of ids) if (side.get(a) !== side.get(b)) blocked.add(`${a}>${b}`)
        } else {
          // Cut random links in one direction only.
          for (const a of ids) for (const b of ids) if (a !== b && rng.chance(0.3)) blocked.add(`${a}>${b}`)
        }
        const pid = this.#partitionSeq++
        this.#partitions.set(pid, blocked)
        this.stats.partitions++
        this.#trace_(`partition ${pid} mode ${mode}: ${[...blocked].join(',')}`)
        this.#schedule({ kind: 'heal', partition: pid }, 100 + rng.int(3000))
        return
      }
      case 'crash': {
        const alive = this.#aliveNodes()
        if (alive.length === 0) return
        const n = alive[rng.int(alive.length)]
        n.crash()
        this.reads.forgetNode(n.id)
        this.stats.crashes++
        this.#trace_(`crash ${n.id}`)
        this.#schedule({ kind: 'restart', node: n.id }, rng.chance(0.2) ? 1 : 50 + rng.int(2000))
        return
      }
      case 'transfer': {
        const l = this.#leader()
        if (!l) return
        const voters = l.raw!.raft.trk.voterNodes().filter((id) => id !== l.id)
        if (voters.length === 0) return
        const to = voters[rng.int(voters.length)]
        this.stats.transfers++
        this.#trace_(`transfer ${l.id} -> ${to}`)
        l.raw!.transferLeadership(to)
        this.#afterMutation(l)
        return
      }
      case 'conf-change': {
        const l = this.#leader()
        if (!l) return
        const cc = this.#pickConfChange(l)
        if (!cc) return
        const r = l.raw!.proposeConfChange(cc)
        this.stats.confChanges++
        this.#trace_(`conf change at ${l.id}: ${JSON.stringify(cc.changes)} ${cc.transition ?? ''}: ${r}`)
        this.#afterMutation(l)
        return
      }
    }
  }

  #pickConfChange(l: SimNode): ConfChange | undefined {
    const rng = this.#rng
    const cs = l.raw!.raft.trk.confState()
    if (cs.votersOutgoing.length > 0) {
      return cs.autoLeave ? undefined : { changes: [] }
    }
    const total = [...this.nodes.values()].filter((n) => !n.retired && !n.removed).length
    const choice = rng.int(5)
    if (choice === 0 && total < this.options.nodes + 3) {
      // A new node (never a reused id) joins as a learner.
      const id = this.#nextId++
      this.#addNode(id, undefined)
      return { changes: [{ type: 'addLearner', nodeId: id }] }
    }
    if (choice === 1 && cs.learners.length > 0) {
      return { changes: [{ type: 'addVoter', nodeId: cs.learners[rng.int(cs.learners.length)] }] }
    }
    if (choice === 2 && cs.voters.length > 1) {
      return { changes: [{ type: 'removeNode', nodeId: cs.voters[rng.int(cs.voters.length)] }] }
    }
    if (choice === 3 && cs.learners.length > 0 && cs.voters.length > 1) {
      // Replace a voter by a learner at once: a joint change.
      const add = cs.learners[rng.int(cs.learners.length)]
      const remove = cs.voters[rng.int(cs.voters.length)]
      const demote = rng.chance(0.5)
      return {
        transition: rng.chance(0.3) ? 'joint-explicit' : 'auto',
        changes: [
          { type: 'addVoter', nodeId: add },
          { type: demote ? 'addLearner' : 'removeNode', nodeId: remove },
        ],
      }
    }
    if (choice === 4 && cs.learners.length > 0) {
      return { changes: [{ type: 'removeNode', nodeId: cs.learners[rng.int(cs.learners.length)] }] }
    }
    return undefined
  }

  // --- Liveness ---------------------------------------------------------------------------

  #enterLiveness(): void {
    this.#liveness = true
    this.#trace_('liveness phase: heal everything')
    this.#partitions.clear()
    this.#dropRate = 0
    this.#duplicateRate = 0
    for (const n of this.nodes.values()) {
      if (!n.raw && !n.retired) this.#start(n)
    }
  }

  /**
   * Extra time for a backlog of uncommitted entries: in the slowest configuration a leader moves
   * one entry per round trip (one entry per message, one message in flight).
   */
  #backlogAllowance(): number {
    let last = 0
    let committed = 0
    for (const n of this.nodes.values()) {
      if (n.retired) continue
      last = Math.max(last, n.disk.lastIndex())
      committed = Math.max(committed, n.disk.hardState.commit)
    }
    const perEntry = 2 * (this.#delayBound() + this.options.maxDiskMs) + this.options.tickMs
    return Math.max(0, last - committed) * perEntry
  }

  #delayBound(): number {
    return Math.max(1, Math.floor((this.options.electionTick * this.options.tickMs) / 4) - this.options.maxDiskMs)
  }

  /**
   * Converged when a leader exists, a fresh proposal was applied on every member of its
   * configuration, and all members applied the same prefix.
   */
  #converged(): boolean {
    const l = this.#leader()
    if (!l) return false
    const raft = l.raw!.raft
    const cs = raft.trk.confState()
    if (cs.votersOutgoing.length > 0 && !cs.autoLeave) {
      if (raft.pendingConfIndex <= raft.log.applied) {
        l.raw!.proposeConfChange({ changes: [] })
        this.#afterMutation(l)
      }
      return false
    }
    if (!this.#marker || !this.#markerSubmitted) {
      this.#marker = encoder.encode(`live-${this.options.seed}-${this.now}`)
      this.#markerApplied.clear()
      const r = l.raw!.propose(this.#marker)
      this.#markerSubmitted = r === 'ok'
      this.#markerSubmittedTerm = raft.term
      this.#trace_(`propose marker at ${l.id} term ${raft.term}: ${r}`)
      this.#afterMutation(l)
      return false
    }
    if (!this.#markerApplied.has(l.id)) {
      // Re-propose the marker if the leader that took it lost leadership before committing it.
      if (this.#markerSubmittedTerm !== raft.term) this.#markerSubmitted = false
      return false
    }
    // Every member reached the leader's state (by applying entries or restoring a snapshot).
    const members = [...new Set([...cs.voters, ...cs.learners, ...cs.votersOutgoing])]
    for (const id of members) {
      const n = this.nodes.get(id)
      if (!n || !n.raw || n.state.index !== l.state.index || n.state.hash !== l.state.hash) return false
    }
    // Every member has applied the current configuration: removed nodes may shut down now.
    for (const n of this.nodes.values()) {
      if (n.raw && !members.includes(n.id) && n.wasMember) {
        this.#trace_(`retire ${n.id}: not in the configuration`)
        this.#retire(n)
      }
    }
    return true
  }

  #markerSubmitted = false
  readonly #linkClock = new Map<string, number>()
  #markerSubmittedTerm = -1

  #describe(): string {
    return [...this.nodes.values()]
      .map((n) => {
        if (n.retired) return `${n.id}:retired`
        if (!n.raw) return `${n.id}:down`
        const s = n.raw.status()
        const prs = s.progress ? ` prs[${[...s.progress].map(([id, p]) => `${id}:${p.state} m${p.match} n${p.next} if${p.inflight}${p.recentActive ? '' : ' inactive'}`).join(', ')}]` : ''
        return `${n.id}:${s.role}${n.pendingReady ? '(persisting)' : ''}${prs} t${s.term} lead${s.leader} commit${s.commit} applied${n.state.index} last${s.lastIndex} conf(${s.config.voters.join(' ')}|${s.config.votersOutgoing.join(' ')}|L${s.config.learners.join(' ')})`
      })
      .join('; ')
  }
}

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never
