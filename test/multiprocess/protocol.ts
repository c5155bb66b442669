/**
 * The control channel between a test and a node program (`node-process.ts`): one JSON object per
 * line, requests on the child's stdin, replies and events on its stdout. The child logs to stderr.
 * Nothing here travels over the network, so a partition of the nodes' links never cuts a test off
 * from its nodes (and a stopped node simply answers later).
 *
 * @module
 */

/** How a node program starts: its argument (`argv[2]`) is this object as JSON. */
export interface NodeProcessConfig {
  readonly id: number
  /** The LevelDB directory (created if missing; reopened on a restart). */
  readonly dir: string
  /** Where the TCP transport listens. */
  readonly host: string
  readonly port: number
  /** Every initial voter, this node included, with its `tcp://host:port` address. */
  readonly peers: ReadonlyArray<{ readonly id: number; readonly address: string }>
  readonly clusterId: string
  readonly tickMs: number
  readonly electionTick: number
  readonly requestTimeoutMs: number
  /** Log debug lines of the core too. */
  readonly verbose?: boolean
}

/** A request from the test. `n` is echoed in the reply. */
export type ControlRequest =
  | { readonly n: number; readonly op: 'put'; readonly key: string; readonly value: string }
  | { readonly n: number; readonly op: 'get'; readonly key: string; readonly serializable?: boolean }
  /** Every key (with its value) under a prefix. */
  | { readonly n: number; readonly op: 'scan'; readonly prefix: string; readonly serializable?: boolean }
  | { readonly n: number; readonly op: 'status' }
  /** Closes the node cleanly; the process exits after the reply. */
  | { readonly n: number; readonly op: 'close' }

/** What a request failed with: the error's stable code (or its name) and message. */
export interface ControlError {
  readonly code: string
  readonly message: string
}

export type ControlReply =
  | { readonly n: number; readonly ok: true; readonly result: unknown }
  | { readonly n: number; readonly ok: false; readonly error: ControlError }

/** Sent once, when the node is running (its transport listens). */
export interface ReadyEvent {
  readonly event: 'ready'
  readonly id: number
  readonly pid: number
}

/** What a node program writes on stdout. */
export type ControlOutput = ControlReply | ReadyEvent

/** Results of the operations, as the child sends them. */
export interface PutResult {
  readonly revision: number
}
export interface GetResult {
  readonly value?: string
  readonly modRevision?: number
  readonly version?: number
}
/** Key → [value, version] (the number of writes to the key since it was created). */
export type ScanResult = Record<string, [value: string, version: number]>
