/**
 * The markdown report of a run: the KV matrix side by side (etcd, embedded, http, with ratios to
 * etcd), the in-process ceiling, and the life-cycle scenarios. Printed, and optionally written
 * into a markdown file between two marker comments (the rest of the file is kept).
 *
 * @module
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import type { BenchLine } from './result.js'

export const START_MARKER = '<!-- bench:results:start -->'
export const END_MARKER = '<!-- bench:results:end -->'

const fmt = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '–' : v >= 100 ? String(Math.round(v)) : String(Math.round(v * 100) / 100))
const ratio = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '' : ` (${fmt(v)}×)`)

function kvTables(lines: readonly BenchLine[]): string[] {
  const out: string[] = []
  const kv = lines.filter((l) => l.scenario === 'embedded' || l.scenario === 'http' || l.scenario === 'etcd')
  if (kv.length === 0) return out
  const targets = [...new Set(kv.map((l) => l.target ?? 'leader'))]
  const scenarios = ['etcd', 'embedded', 'http'].filter((s) => kv.some((l) => l.scenario === s))
  for (const target of targets) {
    out.push(`#### Load entering at the ${target}`, '')
    out.push(`| op | in flight | ${scenarios.map((s) => `${s} ops/s | ${s} p50 / p99 ms`).join(' | ')} | cpu (cores) ${scenarios.join(' / ')} |`)
    out.push(`| --- | ---: | ${scenarios.map(() => '---: | ---:').join(' | ')} | --- |`)
    const keys = [...new Set(kv.filter((l) => (l.target ?? 'leader') === target).map((l) => `${l.op}|${l.concurrency}`))]
    for (const key of keys) {
      const [op, c] = key.split('|')
      const cells: string[] = []
      const cpus: string[] = []
      for (const s of scenarios) {
        const l = kv.find((x) => x.scenario === s && x.op === op && String(x.concurrency) === c && (x.target ?? 'leader') === target)
        if (!l) {
          cells.push('– | –')
          cpus.push('–')
          continue
        }
        const errs = l.errors ? ` ⚠${l.errors} err` : ''
        cells.push(`${fmt(l.opsPerSec)}${ratio(l.vsEtcd?.opsPerSec)}${errs} | ${fmt(l.p50)} / ${fmt(l.p99)}`)
        cpus.push(`${fmt(l.cpu.servers + l.cpu.client)}`)
      }
      out.push(`| ${op} | ${c} | ${cells.join(' | ')} | ${cpus.join(' / ')} |`)
    }
    out.push('')
  }
  out.push('Ratios in parentheses are metastore / etcd for the same configuration of the same run (above 1: metastore does more operations per second). CPU is the servers plus the load client, in cores busy on average during the window.', '')
  return out
}

function inprocessTable(lines: readonly BenchLine[]): string[] {
  const ip = lines.filter((l) => l.scenario === 'inprocess')
  if (ip.length === 0) return []
  const out = ['#### In-process (3 members in one process, memory storage, no network)', '', '| in flight | puts/s | p50 ms | p99 ms | p99.9 ms | cpu (cores) |', '| ---: | ---: | ---: | ---: | ---: | ---: |']
  for (const l of ip) out.push(`| ${l.concurrency} | ${fmt(l.opsPerSec)} | ${fmt(l.p50)} | ${fmt(l.p99)} | ${fmt(l.p999)} | ${fmt(l.cpu.servers)} |`)
  out.push('')
  return out
}

function lifeTable(lines: readonly BenchLine[]): string[] {
  const out: string[] = []
  const rows: string[] = []
  for (const l of lines) {
    const x = (l.extra ?? {}) as Record<string, unknown>
    if (l.scenario === 'recovery') {
      rows.push(`| recovery (${l.system}): process start to first linearizable read | ${x.keys} keys | ${fmt(l.p50)} ms (median of ${l.ops}; ${(x.trialsMs as number[]).map(fmt).join(', ')}) |`)
      const how = l.system === 'etcd' ? 'txn of 128 puts, 16 in flight' : 'txn of 1000 puts, 4 in flight'
      rows.push(`| bulk load (${l.system}), 1 member (${how}) | ${x.keys} keys | ${fmt(x.fillSeconds as number)} s (${fmt(x.fillKeysPerSec as number)} keys/s) |`)
    } else if (l.scenario === 'catchup') {
      rows.push(`| catchup: new member, addLearner to caught up (snapshot) | ${x.keys} keys | ${fmt(l.p50 / 1000)} s |`)
      rows.push(`| bulk load, 3 members (txn of 1000 puts, 4 in flight) | ${x.keys} keys | ${fmt(x.fillSecondsThreeMembers as number)} s (${fmt(x.fillKeysPerSecThreeMembers as number)} keys/s) |`)
    } else if (l.scenario === 'failover') {
      const t = x.trialsMs as number[]
      const single = (x.requestSentAtKillMs as number[] | undefined) ?? []
      rows.push(`| failover (${l.system}): SIGKILL of the leader to first acknowledged write (probe every 10 ms) | ${l.ops} trials | median ${fmt(l.p50)} ms, max ${fmt(Math.max(...t))} ms (${t.map(fmt).join(', ')}) |`)
      if (single.length > 0) rows.push(`| failover (${l.system}): the put sent at the kill, until acknowledged | ${l.ops} trials | median ${fmt(single.slice().sort((a, b) => a - b)[Math.floor((single.length - 1) / 2)])} ms, max ${fmt(Math.max(...single))} ms |`)
    } else if (l.scenario === 'memory') {
      const heap = x.heapUsedMbIdle === undefined ? '' : ` (JS heap ${fmt(x.heapUsedMbIdle as number)} / ${fmt(x.heapUsedMbAfterPutLoad as number)} MiB)`
      rows.push(`| memory (${l.system}): RSS of a member holding the keys (idle / after ${(x.putLoad as { seconds: number }).seconds} s of puts at 128 in flight) | ${x.keys} keys | ${fmt(x.rssMbIdle as number)} MiB / ${fmt(x.rssMbAfterPutLoad as number)} MiB${heap} |`)
    }
  }
  if (rows.length === 0) return out
  out.push('#### Life cycle', '', '| scenario | size | figure |', '| --- | --- | --- |', ...rows, '')
  return out
}

/** The markdown of a run's lines. */
export function renderReport(lines: readonly BenchLine[], header: string): string {
  return [header, '', ...kvTables(lines), ...inprocessTable(lines), ...lifeTable(lines)].join('\n')
}

/** Writes `markdown` into `file` between the markers (appended with them if absent). */
export function writeReportSection(file: string, markdown: string): void {
  const block = `${START_MARKER}\n${markdown.trimEnd()}\n${END_MARKER}`
  const text = existsSync(file) ? readFileSync(file, 'utf8') : ''
  const start = text.indexOf(START_MARKER)
  const end = text.indexOf(END_MARKER)
  const next = start >= 0 && end > start ? text.slice(0, start) + block + text.slice(end + END_MARKER.length) : `${text.trimEnd()}\n\n${block}\n`
  writeFileSync(file, next)
}
