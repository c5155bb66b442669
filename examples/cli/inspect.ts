/**
 * `inspect <data dir>`: what a stopped node has on disk, read without a server.
 *
 * @module
 */
import type { ConfState } from '../../lib/raft/types.js'
import { UsageError } from './args.js'
import type { Command, Context } from './context.js'
import { formatBytes } from './format.js'
// The storage code loads only for `inspect`, so the other commands start quickly.
import type { Engine, EntrySummary, InspectSummary, readEntries } from './inspect-read.js'
import { intFlag, noMore, positional, stringFlag } from './kv-commands.js'
import { Progress } from './progress.js'

function ids(list: readonly number[]): string {
  return list.length === 0 ? '-' : [...list].sort((a, b) => a - b).join(', ')
}

function describeConf(conf: ConfState): string {
  let text = `voters ${ids(conf.voters)}; learners ${ids(conf.learners)}`
  if (conf.votersOutgoing.length > 0) text += `; joint with outgoing voters ${ids(conf.votersOutgoing)}`
  if (conf.learnersNext.length > 0) text += `; learners next ${ids(conf.learnersNext)}`
  return text
}

/** The membership record the state machine keeps: `{ index, confState, addresses? }`. */
function describeMembership(record: Readonly<Record<string, unknown>>): string {
  const { index, confState, addresses, ...rest } = record as { index?: unknown; confState?: ConfState; addresses?: unknown }
  const where = typeof addresses === 'object' && addresses !== null ? (addresses as Record<string, unknown>) : {}
  const named = (list: readonly number[]): string =>
    list.length === 0 ? '-' : [...list].sort((a, b) => a - b).map((id) => (typeof where[id] === 'string' ? `${id} ${String(where[id])}` : String(id))).join(', ')
  let text: string
  if (confState === undefined || !Array.isArray(confState.voters)) text = JSON.stringify(confState)
  else {
    text = `voters ${named(confState.voters)}; learners ${named(confState.learners ?? [])}`
    if ((confState.votersOutgoing ?? []).length > 0) text += `; joint with outgoing voters ${ids(confState.votersOutgoing)}`
  }
  if (Object.keys(rest).length > 0) text += `; ${JSON.stringify(rest)}`
  return `${text} (as of index ${String(index)})`
}

/** The summary as aligned `name  value` lines. */
export function formatSummary(s: InspectSummary): string[] {
  const stored = s.confState.voters.length + s.confState.learners.length > 0 ? describeConf(s.confState) : undefined
  const membership = s.kv.membership !== undefined ? describeMembership(s.kv.membership) : (stored ?? 'none recorded')
  const rows: Array<[string, string]> = [
    ['database', `${s.path} (${s.engine})`],
    ['hard state', `term ${s.hardState.term}, vote ${s.hardState.vote}, commit ${s.hardState.commit}`],
    ['log', `first index ${s.firstIndex}, last index ${s.lastIndex} (${Math.max(0, s.lastIndex - s.firstIndex + 1)} entries)`],
    [
      'snapshot',
      s.snapshot.index === 0
        ? 'none'
        : `index ${s.snapshot.index}, term ${s.snapshot.term}, ${formatBytes(s.snapshot.dataBytes)}; ${describeConf(s.snapshot.confState)}`,
    ],
    ['applied index', String(s.kv.appliedIndex)],
    ['membership', membership],
    ['revision', `${s.kv.revision}${s.kv.compactRevision > 0 ? ` (compacted at ${s.kv.compactRevision})` : ''}`],
    ['keys', String(s.kv.keys)],
    ['leases', String(s.kv.leases)],
  ]
  if (s.kv.membership !== undefined && stored !== undefined) rows.push(['log membership', stored])
  if (s.recovery.truncatedFrom !== undefined) {
    rows.push(['repaired', `cut a damaged tail at index ${s.recovery.truncatedFrom.index}: ${s.recovery.truncatedFrom.reason}`])
  }
  const width = Math.max(...rows.map(([name]) => name.length))
  return rows.map(([name, value]) => `${name.padEnd(width)}  ${value}`)
}

const ENTRY_HEADER = '   INDEX   TERM  TYPE          SIZE  SUMMARY'

/** One entry as a line under {@link ENTRY_HEADER}. */
export function formatEntry(e: EntrySummary): string {
  return `${String(e.index).padStart(8)} ${String(e.term).padStart(6)}  ${e.type.padEnd(10)} ${String(e.size).padStart(7)}  ${e.summary}`
}

export const inspectCommand: Command = {
  name: 'inspect',
  usage: ['inspect <data dir> [--entries [--from N] [--limit N]] [--engine leveldb|rocksdb]'],
  summary: "read a stopped node's database directly (no server): hard state, log, snapshot, applied state",
  flags: {
    entries: { kind: 'boolean', help: 'also list the log entries' },
    from: { kind: 'integer', value: '<index>', help: 'first entry to list (default: the first in the log)' },
    limit: { kind: 'integer', value: '<n>', help: 'at most n entries' },
    engine: { kind: 'string', value: '<engine>', help: 'leveldb or rocksdb (default: detected)' },
  },
  async run(ctx, args) {
    noMore(args, 1)
    const path = positional(args, 0, 'data dir')
    const engineFlag = stringFlag(args, 'engine')
    if (engineFlag !== undefined && engineFlag !== 'leveldb' && engineFlag !== 'rocksdb') throw new UsageError(`--engine must be leveldb or rocksdb, got '${engineFlag}'`)
    if (args.flags.entries !== true && (args.flags.from !== undefined || args.flags.limit !== undefined)) throw new UsageError('--from and --limit go with --entries')
    const { openDatabase } = await import('./inspect-read.js')
    const db = await openDatabase(path, engineFlag as Engine | undefined)
    try {
      const { summary } = db
      const entries: EntrySummary[] = []
      if (!ctx.json) ctx.print(...formatSummary(summary))
      if (args.flags.entries === true) {
        const from = Math.max(intFlag(args, 'from') ?? summary.firstIndex, summary.firstIndex)
        const limit = intFlag(args, 'limit')
        const to = Math.min(summary.lastIndex + 1, limit === undefined ? Infinity : from + limit)
        await listEntries(ctx, db.store, from, to, summary.lastIndex, (e) => {
          if (ctx.json) entries.push(e)
          else ctx.print(formatEntry(e))
        })
      }
      if (ctx.json) ctx.printJson(args.flags.entries === true ? { ...summary, entries } : summary)
    } finally {
      await db.close()
    }
  },
}

async function listEntries(
  ctx: Context,
  store: Parameters<typeof readEntries>[0],
  from: number,
  to: number,
  last: number,
  each: (e: EntrySummary) => void,
): Promise<void> {
  if (from >= to) {
    if (!ctx.json) ctx.print('', '(no entries in that range)')
    return
  }
  if (!ctx.json) ctx.print('', ENTRY_HEADER)
  const { describeEntry, readEntries } = await import('./inspect-read.js')
  const progress = new Progress(ctx.io.stderr, ctx.io.stderrIsTTY)
  try {
    for await (const piece of readEntries(store, from, to)) {
      if (ctx.signal.aborted) break
      progress.done()
      for (const entry of piece) each(describeEntry(entry))
      const at = piece[piece.length - 1].index
      progress.update(`reading entries: ${at} of ${Math.min(last, to - 1)}`)
    }
  } finally {
    progress.done()
  }
}
