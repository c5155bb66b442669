import { every, realTimeClock, type Clock } from '../clock.js'
import type { Command } from '../kv/commands.js'
import type { MvccStore } from '../kv/mvcc-store.js'
import type { RaftNode } from './raft-node.js'

/**
 * Expires leases, on the leader only (DESIGN rule 10). Each lease's deadline is kept in memory:
 * when this node becomes leader, the deadline is now + the remaining TTL last checkpointed through
 * the log; when a grant or a checkpoint (a keep-alive is one) is applied, now + its TTL. A lease therefore never gets a full
 * TTL again because the leader changed: the new leader resumes from the checkpoint, and since the
 * time between the checkpoint and the change is not subtracted, it can only expire late, never
 * early. Remaining TTLs are checkpointed every `checkpointEveryMs`.
 */
export class Lessor {
  readonly #store: MvccStore
  readonly #raft: RaftNode
  readonly #run: (cmd: Command) => Promise<unknown>
  readonly #checkpointEveryMs: number
  readonly #deadlines = new Map<number, { deadline: number }>()
  readonly #expiring = new Set<number>()
  readonly #clock: Clock
  #stopTimer: (() => void) | undefined
  #busy = false
  #lastCheckpoint = 0

  constructor(store: MvccStore, raft: RaftNode, run: (cmd: Command) => Promise<unknown>, options: { tickMs: number; checkpointEveryMs?: number; clock?: Clock }) {
    this.#store = store
    this.#raft = raft
    this.#run = run
    this.#checkpointEveryMs = options.checkpointEveryMs ?? 5000
    this.#clock = options.clock ?? realTimeClock
    this.#stopTimer = every(this.#clock, options.tickMs, () => void this.#tick())
  }

  /** The leader's view of a lease's remaining time, in ms (undefined elsewhere or if unknown). */
  remainingMs(id: number): number | undefined {
    const d = this.#deadlines.get(id)
    return d === undefined ? undefined : Math.max(0, d.deadline - this.#clock.now())
  }

  async #tick(): Promise<void> {
    if (this.#busy) return
    if (this.#raft.role !== 'leader' || this.#raft.closed) {
      // Only the leader counts down; a new leader starts from the checkpoints.
      this.#deadlines.clear()
      this.#expiring.clear()
      return
    }
    this.#busy = true
    try {
      const now = this.#clock.now()
      const leases = await this.#store.leases()
      const live = new Set<number>()
      for (const l of leases) {
        live.add(l.id)
        // First seen as leader: resume from the last checkpoint (see the class comment).
        if (!this.#deadlines.has(l.id)) this.#deadlines.set(l.id, { deadline: now + l.remainingTtlMs })
      }
      for (const id of this.#deadlines.keys()) if (!live.has(id)) this.#deadlines.delete(id)
      for (const id of this.#expiring) if (!live.has(id)) this.#expiring.delete(id)
      const due = [...this.#deadlines].filter(([id, d]) => d.deadline <= now && !this.#expiring.has(id)).map(([id]) => id)
      if (due.length > 0) {
        for (const id of due) this.#expiring.add(id)
        this.#run({ type: 'leaseExpire', ids: due }).catch(() => {
          // Not applied (leadership lost, timeout): the next leader, or the next tick, tries again.
          for (const id of due) this.#expiring.delete(id)
        })
      }
      if (now - this.#lastCheckpoint >= this.#checkpointEveryMs && this.#deadlines.size > 0) {
        this.#lastCheckpoint = now
        const checkpoints = [...this.#deadlines]
          .filter(([id]) => !this.#expiring.has(id))
          .map(([id, d]) => ({ id, remainingTtlMs: Math.max(0, Math.round(d.deadline - now)) }))
        if (checkpoints.length > 0) this.#run({ type: 'leaseCheckpoint', checkpoints }).catch(() => {})
      }
    } catch {
      // A read failed (the store is closing): try again at the next tick.
    } finally {
      this.#busy = false
    }
  }

  /**
   * A lease command was applied on this node. A grant or a checkpoint (a keep-alive is one) sets
   * the countdown on the leader.
   */
  applied(cmd: Command): void {
    if (this.#raft.role !== 'leader') return
    const now = this.#clock.now()
    if (cmd.type === 'leaseGrant') this.#deadlines.set(cmd.id, { deadline: now + cmd.ttlSeconds * 1000 })
    else if (cmd.type === 'leaseCheckpoint') {
      for (const c of cmd.checkpoints) if (this.#deadlines.has(c.id)) this.#deadlines.set(c.id, { deadline: now + c.remainingTtlMs })
    }
  }

  close(): void {
    this.#stopTimer?.()
    this.#stopTimer = undefined
  }
}
