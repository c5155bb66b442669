/**
 * The IPC protocol between the benchmark and a metastore member it runs as a child process
 * (`node-child.ts`): calls by id, replies, and the edges of a measured window.
 *
 * @module
 */

/** How a member child starts (passed in the `BENCH_NODE` environment variable, as JSON). */
export interface NodeConfig {
  readonly id: number
  /** The initial voters (or, with `join`, the members to reach), with `tcp://` addresses. */
  readonly peers: ReadonlyArray<{ readonly id: number; readonly address: string }>
  /** The TCP port this member listens on for its peers (none for a single-node cluster). */
  readonly listenPort?: number
  readonly dataDir: string
  readonly engine: 'level' | 'memory'
  readonly join?: boolean
  readonly clusterId: string
  readonly snapshotEvery?: number
  readonly compactKeep?: number
  /** Log writes without fsync (the `breakdown` scenario's `--no-sync`). */
  readonly noSync?: boolean
  /** After start, time the first linearizable read (the recovery scenario). */
  readonly probeServing?: boolean
}

/** Milliseconds since the child process started, at each step of its start. */
export interface StartTimings {
  readonly modulesLoadedMs: number
  readonly nodeCreatedMs: number
  readonly servingMs?: number
}

export type ParentMessage = { readonly type: 'call'; readonly id: number; readonly method: string; readonly params?: unknown }

export type ChildMessage =
  | { readonly type: 'ready'; readonly timings: StartTimings }
  | { readonly type: 'reply'; readonly id: number; readonly result?: unknown; readonly error?: string }
  | { readonly type: 'window'; readonly phase: 'start' | 'end' }
  | { readonly type: 'failed'; readonly error: string }

/** What `status` answers. */
export interface ChildStatus {
  readonly role: string
  readonly leader: number
  readonly term: number
  readonly appliedIndex: number
  readonly commitIndex: number
  readonly revision: number
  readonly members: number
  /** The first index of the log on disk: above 1 once the log was compacted or began with a snapshot. */
  readonly firstIndex: number
}
