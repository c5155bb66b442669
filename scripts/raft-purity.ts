import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'

/**
 * The Raft core must stay pure and deterministic: no Node modules, no clock, no global
 * randomness, no timers, no promises. Returns one line per offence.
 */
export function raftPurityOffences(root: string): string[] {
  const dir = join(root, 'lib', 'raft')
  const offences: string[] = []
  const forbidden: Array<[RegExp, string]> = [
    [/from\s+['"](node:|fs|net|http|https|dgram|child_process|worker_threads|timers|os|crypto|path)['"/]/, 'imports a Node module'],
    [/from\s+['"](?!\.)[^'"]+['"]/, 'imports a package (the core has no dependencies)'],
    [/\bimport\s*\(/, 'dynamic import'],
    [/\brequire\s*\(/, 'require()'],
    [/\bDate\b/, 'reads the clock (Date)'],
    [/\bperformance\s*\./, 'reads the clock (performance)'],
    [/\bprocess\s*\./, 'touches process'],
    [/\bMath\.random\b/, 'global randomness (Math.random)'],
    [/\bcrypto\s*\./, 'global randomness (crypto)'],
    [/\b(setTimeout|setInterval|setImmediate|queueMicrotask)\b/, 'timers'],
    [/\b(Promise|async|await)\b/, 'asynchrony'],
  ]
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name)
      if (statSync(p).isDirectory()) walk(p)
      else if (name.endsWith('.ts')) {
        const lines = readFileSync(p, 'utf8').split('\n')
        lines.forEach((line, i) => {
          const code = line.replace(/\/\/.*$/, '').replace(/^\s*\*.*$/, '')
          for (const [re, why] of forbidden) {
            if (re.test(code)) offences.push(`${relative(root, p)}:${i + 1}: ${why}: ${line.trim()}`)
          }
        })
      }
    }
  }
  walk(dir)
  return offences
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const offences = raftPurityOffences(process.cwd())
  for (const o of offences) console.log(o)
  console.log(offences.length === 0 ? 'lib/raft is pure' : `${offences.length} offences`)
  if (offences.length > 0) process.exitCode = 1
}
