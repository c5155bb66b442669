/**
 * The command table, the global flags and the help text.
 *
 * @module
 */
import type { FlagSpecs } from './args.js'
import { healthCommand, membersCommand, moveLeaderCommand, statusCommand } from './cluster-commands.js'
import type { Command } from './context.js'
import { inspectCommand } from './inspect.js'
import { compactCommand, delCommand, getCommand, prefixCommand, putCommand, rangeCommand } from './kv-commands.js'
import { leaseCommand } from './lease-commands.js'
import { snapshotCommand } from './snapshot.js'
import { txnCommand } from './txn.js'
import { watchCommand } from './watch.js'

/** The default endpoint when neither `--endpoints` nor `METASTORE_ENDPOINTS` is given. */
export const DEFAULT_ENDPOINT = 'http://127.0.0.1:12380'

/** Flags every command accepts (also on a shell line, for that line only). */
export const GLOBAL_FLAGS = {
  endpoints: { kind: 'string', value: '<url,...>', help: `servers to try in order (default $METASTORE_ENDPOINTS or ${DEFAULT_ENDPOINT})` },
  json: { kind: 'boolean', help: 'print JSON (one value per line) for scripts' },
  'write-out': { kind: 'string', short: 'w', value: '<format>', help: 'json, or simple/table (the default, for people)' },
  timeout: { kind: 'integer', value: '<ms>', help: 'bound on one request to one endpoint (default 15000)' },
  'dial-timeout': { kind: 'integer', value: '<ms>', help: 'bound on connecting to one endpoint (default 2000)' },
  help: { kind: 'boolean', short: 'h', help: 'show help' },
} as const satisfies FlagSpecs

/** Every command, in the order help lists them. */
export const COMMANDS: readonly Command[] = [
  getCommand,
  putCommand,
  delCommand,
  rangeCommand,
  prefixCommand,
  txnCommand,
  watchCommand,
  compactCommand,
  leaseCommand,
  membersCommand,
  statusCommand,
  healthCommand,
  moveLeaderCommand,
  snapshotCommand,
  inspectCommand,
]

/** The command called `name` (or one of its aliases). */
export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name || (c.aliases ?? []).includes(name))
}

function flagLines(specs: FlagSpecs): string[] {
  return Object.entries(specs).map(([name, spec]) => {
    const left = `${spec.short !== undefined ? `-${spec.short}, ` : ''}--${name}${spec.value !== undefined ? ` ${spec.value}` : ''}`
    return `  ${left.padEnd(28)} ${spec.help ?? ''}`
  })
}

/** The help of the whole CLI (`interactive`: as the shell shows it). */
export function generalHelp(interactive: boolean): string {
  const lines = interactive
    ? ['Commands (quote values with blanks: put greeting "hello world"):']
    : [
        'usage: metastore-cli [--endpoints <url,...>] [--json] [--timeout <ms>] <command> [args]',
        '       metastore-cli                 (no command: the interactive shell)',
        '',
        'Commands:',
      ]
  for (const c of COMMANDS) lines.push(`  ${c.name.padEnd(12)} ${c.summary}`)
  if (interactive) lines.push('  help [cmd]   this list, or the usage of one command', '  exit         leave the shell (or Ctrl-D)')
  lines.push('', 'Global flags:', ...flagLines(GLOBAL_FLAGS))
  if (!interactive) {
    lines.push('', "Run 'metastore-cli help <command>' for a command's usage. Exit codes: 0 ok, 1 error, 2 usage error.")
  }
  return lines.join('\n')
}

/** The help of one command. */
export function commandHelp(command: Command): string {
  const lines = command.usage.map((u, i) => `${i === 0 ? 'usage: ' : '       '}${u}`)
  lines.push('', command.summary)
  if (Object.keys(command.flags).length > 0) lines.push('', 'Flags:', ...flagLines(command.flags))
  if (command.aliases !== undefined) lines.push('', `Also called: ${command.aliases.join(', ')}`)
  return lines.join('\n')
}
