/**
 * How the CLI shows things to people: values, key-value lists, tables, durations, byte counts.
 * (With `--json` the commands print the server's JSON instead.)
 *
 * @module
 */
import type { KV, Member, Status } from './api.js'

/** A value as text: strings as they are, anything else as compact JSON. */
export function formatValue(value: unknown): string {
  if (typeof value === 'string') return value
  if (value === undefined) return ''
  return JSON.stringify(value)
}

/** Key-value pairs as etcdctl prints them: the key on one line, its value on the next. */
export function formatKvs(kvs: readonly KV[], options: { keysOnly?: boolean } = {}): string[] {
  const lines: string[] = []
  for (const kv of kvs) {
    lines.push(kv.key)
    if (options.keysOnly !== true) lines.push(formatValue(kv.value))
  }
  return lines
}

/** Replaces control characters so one cell stays on one line. */
function cell(value: unknown): string {
  const text = value === undefined || value === null ? '' : typeof value === 'string' ? value : String(value)
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`))
}

/**
 * A table with borders, as `etcdctl -w table` prints one:
 *
 * ```
 * +----+-------+
 * | ID | ROLE  |
 * +----+-------+
 * |  1 | voter |
 * +----+-------+
 * ```
 *
 * Numbers are right-aligned, everything else left-aligned.
 */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly unknown[]>): string[] {
  const text = rows.map((row) => headers.map((_, i) => cell(row[i])))
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((row) => typeof row[i] === 'number' || row[i] === undefined || row[i] === ''))
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((row) => row[i].length)))
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`
  const line = (cells: readonly string[], header: boolean): string =>
    `|${cells.map((c, i) => ` ${!header && numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])} `).join('|')}|`
  return [rule, line(headers, true), rule, ...text.map((row) => line(row, false)), rule]
}

/** The members table. */
export function membersTable(members: readonly Member[]): string[] {
  const sorted = [...members].sort((a, b) => a.id - b.id)
  return table(
    ['ID', 'ROLE', 'ADDRESS'],
    sorted.map((m) => [m.id, m.role, m.address ?? '']),
  )
}

/** One row per endpoint: its status, or the error it gave. */
export interface EndpointStatus {
  readonly endpoint: string
  readonly status?: Status
  readonly error?: string
}

/** The status table (with an ERROR column when an endpoint did not answer). */
export function statusTable(rows: readonly EndpointStatus[]): string[] {
  const errors = rows.some((r) => r.status === undefined)
  const headers = ['ENDPOINT', 'ID', 'ROLE', 'TERM', 'LEADER', 'COMMIT', 'APPLIED', 'REVISION', 'COMPACTED', ...(errors ? ['ERROR'] : [])]
  return table(
    headers,
    rows.map(({ endpoint, status: s, error }) =>
      s === undefined
        ? [endpoint, '', '', '', '', '', '', '', '', error ?? '']
        : [endpoint, s.id, s.role, s.term, s.leader, s.commitIndex, s.appliedIndex, s.revision, s.compactRevision, ...(errors ? [''] : [])],
    ),
  )
}

/** `1536` → `1.5 KiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = -1
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`
}

/** `83500` → `1m23.5s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  const seconds = ms / 1000
  if (seconds < 60) return `${Number(seconds.toFixed(1))}s`
  const minutes = Math.floor(seconds / 60)
  return `${minutes}m${Number((seconds - minutes * 60).toFixed(1))}s`
}

/**
 * Bytes as text for people: UTF-8 when it decodes cleanly and has no control characters, else
 * hex (`0x...`). Long text is cut at `max` characters with an ellipsis.
 */
export function printableBytes(bytes: Uint8Array, max = 64): string {
  let text: string | undefined
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    text = undefined
  }
  // eslint-disable-next-line no-control-regex
  if (text === undefined || /[\u0000-\u0008\u000e-\u001f\u007f]/.test(text)) {
    const hex = Buffer.from(bytes.subarray(0, Math.ceil(max / 2))).toString('hex')
    return `0x${hex}${bytes.length > Math.ceil(max / 2) ? '…' : ''}`
  }
  return truncate(JSON.stringify(text).slice(1, -1), max)
}

/** Cuts `text` to `max` characters, ending with an ellipsis when cut. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`
}
