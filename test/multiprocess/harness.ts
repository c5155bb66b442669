/**
 * A cluster of node programs (one process each, TCP between them, LevelDB on disk) for the
 * multi-process tests, with what those tests share: bounded waits for conditions, writers that
 * record every acknowledged write, and the final check that every node holds all of them.
 *
 * Every process a cluster starts is killed when the test ends (teardown), whatever happened; when
 * a test fails, the tail of each node's log is printed. `MULTIPROCESS_VERBOSE=1` streams the
 * nodes' logs to stderr as they come (`=debug` adds the Raft core's debug lines).
 *
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import type { Test } from 'tap'
import { NodeHandle, type StatusReply } from './node-handle.js'
import type { NodeProcessConfig, ScanResult } from './protocol.js'

/** How a {@link Cluster} runs its nodes. */
export interface ClusterOptions {
  readonly ids: readonly number[]
  /** Where each node listens (and is reached). Default: 127.0.0.1 on a free port. */
  readonly hosts?: ReadonlyMap<number, { readonly host: string; readonly port: number }>
  /** A command each node program runs under (e.g. `ip netns exec NS`). */
  readonly prefix?: (id: number) => readonly string[]
  readonly tickMs?: number
  readonly electionTick?: number
  /** Default 50 ms, 10 ticks and 5 s (generous for two busy cores). */
  readonly requestTimeoutMs?: number
  /** Names the data directory and the cluster id. */
  readonly label: string
}

/** Every process started by any cluster of this test process, killed if the process exits. */
const running = new Set<NodeHandle>()
process.once('exit', () => {
  for (const h of running) h.signal('SIGKILL')
})

/**
 * Waits until `check` returns a value other than `undefined` (or `false`), polling every
 * `everyMs`; fails after `timeoutMs` with `what` and the last error `check` threw.
 */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined && v !== false) return v
    } catch (err) {
      lastError = err
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : ''
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`)
    }
    await delay(everyMs)
  }
}

/** Free TCP ports on 127.0.0.1 (as the OS hands them out; they stay free unless someone races us). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<Server>((resolve, reject) => {
      const s = createServer()
      s.once('error', reject)
      s.listen(0, '127.0.0.1', () => resolve(s))
    })),
  )
  const ports = servers.map((s) => (s.address() as AddressInfo).port)
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))))
  return ports
}

/** A cluster of node programs, one directory and one fixed address per node across restarts. */
export class Cluster {
  readonly ids: readonly number[]
  readonly #t: Test
  readonly #options: ClusterOptions
  readonly #dir: string
  readonly #configs = new Map<number, NodeProcessConfig>()
  readonly #nodes = new Map<number, NodeHandle>()
  readonly #logs = new Map<number, string[]>()
  #failed = false

  private constructor(t: Test, options: ClusterOptions, hosts: ReadonlyMap<number, { host: string; port: number }>) {
    this.#t = t
    this.#options = options
    this.ids = [...options.ids]
    this.#dir = mkdtempSync(join(tmpdir(), `metastore-mp-${options.label}-`))
    const peers = this.ids.map((id) => ({ id, address: `tcp://${hosts.get(id)!.host}:${hosts.get(id)!.port}` }))
    const clusterId = `mp-${options.label}-${process.pid}`
    for (const id of this.ids) {
      const { host, port } = hosts.get(id)!
      this.#configs.set(id, {
        id,
        dir: join(this.#dir, `n${id}`),
        host,
        port,
        peers,
        clusterId,
        tickMs: options.tickMs ?? 50,
        electionTick: options.electionTick ?? 10,
        requestTimeoutMs: options.requestTimeoutMs ?? 5000,
        verbose: process.env.MULTIPROCESS_VERBOSE === 'debug',
      })
      this.#logs.set(id, [])
    }
  }

  /**
   * Starts every node and waits until each is running. The processes are killed and the
   * directory removed when `t` ends; if it failed, the tail of each node's log is printed.
   */
  static async start(t: Test, options: ClusterOptions): Promise<Cluster> {
    let hosts = options.hosts
    if (!hosts) {
      const ports = await freePorts(options.ids.length)
      hosts = new Map(options.ids.map((id, i) => [id, { host: '127.0.0.1', port: ports[i] }]))
    }
    const cluster = new Cluster(t, options, hosts)
    t.teardown(async () => {
      if (!t.passing() || cluster.#failed) cluster.dumpLogs()
      await cluster.destroy()
    })
    await Promise.all(cluster.ids.map((id) => cluster.startNode(id)))
    return cluster
  }

  /** Marks the run as failed (the logs are printed at the end). */
  markFailed(): void {
    this.#failed = true
  }

  /** The running node program of `id` (the last one started). */
  node(id: number): NodeHandle {
    const h = this.#nodes.get(id)
    if (!h) throw new Error(`node ${id} was never started`)
    return h
  }

  /** Starts (or restarts, on the same directory and address) node `id`; resolves once it runs. */
  async startNode(id: number): Promise<NodeHandle> {
    const old = this.#nodes.get(id)
    if (old && !old.dead) throw new Error(`node ${id} is still running`)
    const h = new NodeHandle(this.#configs.get(id)!, { prefix: this.#options.prefix?.(id), log: this.#logs.get(id)! })
    this.#nodes.set(id, h)
    running.add(h)
    void h.exited.then(() => running.delete(h))
    await h.ready
    return h
  }

  /** SIGKILLs node `id` and waits until it is gone. */
  async kill(id: number): Promise<void> {
    await this.node(id).kill()
  }

  /** Requests awaiting an answer, by node (for failure messages). */
  inFlight(): string {
    return [...this.#nodes].map(([id, h]) => `n${id}: ${h.inFlight}`).join(', ')
  }

  /** The process ids of the running nodes (for a test's record). */
  pids(): Record<number, number | undefined> {
    const out: Record<number, number | undefined> = {}
    for (const [id, h] of this.#nodes) out[id] = h.dead ? undefined : h.pid
    return out
  }

  /**
   * Waits until the nodes `among` agree on a leader: one of them says it leads in term T and a
   * majority of the whole cluster says so too (among those asked). `minTerm` skips older terms.
   */
  async waitForLeader(among: readonly number[] = this.ids, options: { minTerm?: number; timeoutMs?: number } = {}): Promise<{ leader: number; term: number }> {
    const quorum = Math.floor(this.ids.length / 2) + 1
    return waitFor(
      `a leader among nodes ${among.join(',')}${options.minTerm ? ` in a term >= ${options.minTerm}` : ''}`,
      async () => {
        const statuses = await this.statuses(among)
        const leaders = statuses.filter((s) => s.role === 'leader' && s.term >= (options.minTerm ?? 0))
        for (const l of leaders) {
          const agree = statuses.filter((s) => s.leader === l.id && s.term === l.term).length
          if (agree >= quorum) return { leader: l.id, term: l.term }
        }
        return undefined
      },
      options.timeoutMs ?? 30_000,
    )
  }

  /** The status of each node of `among` that answers within a few seconds. */
  async statuses(among: readonly number[]): Promise<StatusReply[]> {
    const replies = await Promise.allSettled(among.map((id) => this.node(id).status(5000)))
    return replies.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
  }

  /**
   * Brings the cluster to rest and checks it: a last write through the leader (so that its commit
   * index covers everything acknowledged), every node applies up to that index, and then every
   * node must hold every acknowledged write with its value, and all nodes the same keys.
   * Writers must be stopped first (no request in flight).
   */
  async verify(t: Test, acknowledged: ReadonlyMap<string, string>, prefix = 'w/'): Promise<void> {
    const ids = this.ids
    // The last write's index is at least that of every write acknowledged before it.
    const target = await waitFor('a final write through the leader', async () => {
      const { leader } = await this.waitForLeader(ids)
      await this.node(leader).put(`final/${leader}`, 'x')
      return (await this.node(leader).status()).commitIndex
    })
    await Promise.all(
      ids.map((id) =>
        waitFor(`node ${id} to apply up to index ${target}`, async () => (await this.node(id).status()).appliedIndex >= target, 60_000),
      ),
    )
    const states = new Map<number, ScanResult>()
    for (const id of ids) states.set(id, await this.node(id).scan(prefix, { serializable: true }))
    for (const id of ids) {
      const state = states.get(id)!
      const missing: string[] = []
      for (const [key, value] of acknowledged) if (state[key]?.[0] !== value) missing.push(`${key}=${value} (found ${state[key]?.[0] ?? 'nothing'})`)
      if (missing.length > 0) this.markFailed()
      t.same(missing.slice(0, 20), [], `node ${id} holds all ${acknowledged.size} acknowledged writes (${Object.keys(state).length} keys)`)
    }
    // Every write has a key of its own: a key written twice is a request applied twice.
    const first = states.get(ids[0])!
    const twice = Object.entries(first).flatMap(([key, [, version]]) => (version === 1 ? [] : [`${key} (version ${version})`]))
    if (twice.length > 0) this.markFailed()
    t.same(twice.slice(0, 20), [], 'no write was applied twice')
    for (const id of ids.slice(1)) {
      const same = sameState(first, states.get(id)!)
      if (!same) this.markFailed()
      t.ok(same, `node ${id} holds exactly what node ${ids[0]} holds`)
    }
  }

  /** Prints the tail of every node's log (as tap comments). */
  dumpLogs(): void {
    for (const [id, lines] of this.#logs) this.#t.comment(`--- node ${id}, last ${lines.length} log lines ---\n${lines.join('\n')}`)
  }

  /** Kills every node (a stopped one too) and removes the data directory. */
  async destroy(): Promise<void> {
    await Promise.all([...this.#nodes.values()].map((h) => h.kill()))
    rmSync(this.#dir, { recursive: true, force: true })
  }
}

function sameState(a: ScanResult, b: ScanResult): boolean {
  const ka = Object.keys(a)
  if (ka.length !== Object.keys(b).length) return false
  return ka.every((k) => b[k] !== undefined && b[k][0] === a[k][0] && b[k][1] === a[k][1])
}

/**
 * Concurrent writers, each with one write in flight, recording every acknowledged write. A writer
 * whose node does not answer in time (a frozen or cut-off node) moves on to another node, but
 * the answer that comes later still counts: acknowledged means acknowledged, whenever it arrives.
 */
export class Writers {
  /** key → value of every write a node acknowledged. */
  readonly acknowledged = new Map<string, string>()
  /** Writes that failed, by error code (MOVED_ON: its writer stopped waiting; the answer may still come). */
  readonly failures = new Map<string, number>()
  /** Writes acknowledged after their writer had moved on. */
  lateAcknowledged = 0
  #running = true
  readonly #loops: Promise<void>[]
  /** Answers still awaited for writes their writer gave up waiting for. */
  readonly #late = new Set<Promise<void>>()
  readonly #cluster: Cluster
  readonly #patienceMs: number
  #round = 0

  /**
   * Starts `count` writers. Each sends its next write to the next node `targets()` names (round
   * robin), and after a failure moves on to another node (after a short pause, so that instant
   * refusals do not spin). A writer waits `patienceMs` for an answer before it moves on.
   */
  constructor(cluster: Cluster, targets: () => readonly number[], count = 6, prefix = 'w/', patienceMs = 8000) {
    this.#cluster = cluster
    this.#patienceMs = patienceMs
    this.#loops = Array.from({ length: count }, (_, w) => this.#loop(cluster, targets, w, prefix))
  }

  async #loop(cluster: Cluster, targets: () => readonly number[], w: number, prefix: string): Promise<void> {
    let seq = 0
    while (this.#running) {
      const ids = targets()
      const id = ids[(this.#round++ + w) % ids.length]
      const key = `${prefix}${w}/${seq++}`
      const value = `${id}:${Date.now()}`
      let answered = false
      const put = cluster.node(id).put(key, value).then(
        () => {
          answered = true
          this.acknowledged.set(key, value)
        },
        (err: { code?: string }) => {
          answered = true
          this.#fail(err.code ?? 'ERROR')
        },
      )
      const timer = new AbortController()
      await Promise.race([put, delay(this.#patienceMs, undefined, { signal: timer.signal }).catch(() => {})])
      timer.abort()
      if (!answered) {
        this.#fail('MOVED_ON')
        const late = put.then(() => {
          if (this.acknowledged.has(key)) this.lateAcknowledged++
        })
        this.#late.add(late)
        void late.then(() => this.#late.delete(late))
      }
      if (!this.acknowledged.has(key)) await delay(20)
    }
  }

  #fail(code: string): void {
    this.failures.set(code, (this.failures.get(code) ?? 0) + 1)
  }

  /** Waits (bounded) until `count` more writes have been acknowledged. */
  async more(count: number, timeoutMs = 30_000): Promise<void> {
    const target = this.acknowledged.size + count
    await waitFor(`${count} more acknowledged writes`, () => this.acknowledged.size >= target, timeoutMs, 20).catch((err: Error) => {
      throw new Error(`${err.message}: have ${this.acknowledged.size} of ${target}; ${this.summary()}; requests in flight: ${this.#cluster.inFlight()}`)
    })
  }

  /** Stops the writers and waits until every write sent has its answer (frozen nodes must be resumed first). */
  async stop(): Promise<void> {
    this.#running = false
    await Promise.all(this.#loops)
    await Promise.all(this.#late)
  }

  /** A one-line summary for the test's record. */
  summary(): string {
    const failures = [...this.failures].map(([code, n]) => `${code}×${n}`).join(', ')
    const late = this.lateAcknowledged > 0 ? ` (${this.lateAcknowledged} after their writer moved on)` : ''
    return `${this.acknowledged.size} writes acknowledged${late}; failures: ${failures || 'none'}`
  }
}
