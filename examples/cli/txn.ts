/**
 * `txn`: a transaction, given as the server's JSON request (a file or standard input) or built
 * from flags:
 *
 * ```
 * metastore-cli txn --compare 'version(lock) = 0' --success 'put lock me' --failure 'get lock'
 * metastore-cli txn --file request.json
 * echo '{"compare":[],"success":[{"put":{"key":"a","value":"1"}}]}' | metastore-cli txn
 * ```
 *
 * A compare is `<target>(<key>) <op> <value>` with target `value`, `version`, `create`, `mod` or
 * `lease` (`createRevision`, `modRevision` also), op `=`, `!=`, `<` or `>`; `<key> <op> <value>`
 * is short for a `value(...)` compare. An operation is `put <key> <value> [--lease ID]
 * [--prev-kv] [--json-value]`, `del <key> [<end>] [--prefix] [--from-key] [--prev-kv]` or
 * `get <key> [<end>] [--prefix] [--from-key] [--limit N] [--keys-only] [--count-only]`. Words
 * are quoted as in the shell.
 *
 * @module
 */
import { readFile } from 'node:fs/promises'
import type { CompareOp, CompareTarget, TxnAnswer, TxnCompare, TxnOp, TxnRequest } from './api.js'
import { parseArgs, parseInteger, splitWords, UsageError, type ParsedArgs } from './args.js'
import type { Command, Context } from './context.js'
import { formatKvs } from './format.js'
import { intFlag, noMore, readAllText } from './kv-commands.js'

const TARGETS: Readonly<Record<string, CompareTarget>> = {
  value: 'value',
  version: 'version',
  create: 'createRevision',
  createRevision: 'createRevision',
  mod: 'modRevision',
  modRevision: 'modRevision',
  lease: 'lease',
}

const OPS: Readonly<Record<string, CompareOp>> = { '=': '=', '==': '=', '!=': '!=', '<': '<', '>': '>' }

/** Parses one compare (`version(k) = 0`, `mod(k) > 4`, `k = v`). Throws {@link UsageError}. */
export function parseCompare(text: string): TxnCompare {
  const words = splitWords(text)
  if (words.length !== 3) throw new UsageError(`a compare is '<target>(<key>) <op> <value>' or '<key> <op> <value>' (quote values with blanks), got: ${text}`)
  const [left, opWord, right] = words
  const op = OPS[opWord]
  if (op === undefined) throw new UsageError(`a compare's operator is =, !=, < or >, got '${opWord}'`)
  const call = /^(\w+)\((.*)\)$/s.exec(left)
  const target = call === null ? undefined : TARGETS[call[1]]
  if (call === null || target === undefined) {
    if (left === '') throw new UsageError('a compare needs a key')
    return { key: left, target: 'value', op, value: right }
  }
  const key = call[2]
  if (key === '') throw new UsageError(`a compare needs a key: ${text}`)
  if (target === 'value') return { key, target, op, value: right }
  return { key, target, op, value: parseInteger(right, `the ${call[1]} compared`) }
}

function rangeSelection(args: ParsedArgs, what: string): { key: string; prefix?: boolean; end?: string } {
  const key = args.positionals[0]
  const prefix = args.flags.prefix === true
  if (key === undefined || (key === '' && !prefix)) throw new UsageError(`${what} needs a key`)
  const end = args.positionals[1] ?? (args.flags['from-key'] === true ? '\0' : undefined)
  if (args.positionals.length > 2) throw new UsageError(`${what}: unexpected argument '${args.positionals[2]}'`)
  if (prefix && end !== undefined) throw new UsageError(`${what}: --prefix cannot be used with an end key or --from-key`)
  return { key, ...(prefix ? { prefix } : {}), ...(end !== undefined ? { end } : {}) }
}

/** Parses one operation (`put k v`, `del k --prefix`, `get k`). Throws {@link UsageError}. */
export function parseTxnOp(text: string): TxnOp {
  const [verb, ...rest] = splitWords(text)
  switch (verb) {
    case 'put': {
      const args = parseArgs(rest, { lease: { kind: 'integer' }, 'prev-kv': { kind: 'boolean' }, 'json-value': { kind: 'boolean' } })
      if (args.positionals.length !== 2) throw new UsageError(`a put is 'put <key> <value>', got: ${text}`)
      const [key, raw] = args.positionals
      if (key === '') throw new UsageError('put needs a key')
      let value: unknown = raw
      if (args.flags['json-value'] === true) {
        try {
          value = JSON.parse(raw)
        } catch (err) {
          throw new UsageError(`--json-value: the value is not JSON (${(err as Error).message})`)
        }
      }
      const lease = intFlag(args, 'lease')
      return { put: { key, value, ...(lease !== undefined ? { lease } : {}), ...(args.flags['prev-kv'] === true ? { prevKv: true } : {}) } }
    }
    case 'del':
    case 'delete': {
      const args = parseArgs(rest, { prefix: { kind: 'boolean' }, 'from-key': { kind: 'boolean' }, 'prev-kv': { kind: 'boolean' } })
      return { delete: { ...rangeSelection(args, 'del'), ...(args.flags['prev-kv'] === true ? { prevKv: true } : {}) } }
    }
    case 'get': {
      const args = parseArgs(rest, {
        prefix: { kind: 'boolean' },
        'from-key': { kind: 'boolean' },
        limit: { kind: 'integer' },
        'keys-only': { kind: 'boolean' },
        'count-only': { kind: 'boolean' },
      })
      const limit = intFlag(args, 'limit')
      return {
        get: {
          ...rangeSelection(args, 'get'),
          ...(limit !== undefined ? { limit } : {}),
          ...(args.flags['keys-only'] === true ? { keysOnly: true } : {}),
          ...(args.flags['count-only'] === true ? { countOnly: true } : {}),
        },
      }
    }
    default:
      throw new UsageError(`an operation is put, del or get, got: ${text}`)
  }
}

/** Checks the shape of a JSON request (the server checks the rest). */
export function parseTxnJson(text: string): TxnRequest {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new UsageError(`the transaction is not JSON: ${(err as Error).message}`)
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UsageError('the transaction must be a JSON object { compare, success, failure }')
  const o = raw as Record<string, unknown>
  const list = (name: string): unknown[] => {
    const v = o[name] ?? []
    if (!Array.isArray(v)) throw new UsageError(`the transaction's ${name} must be an array`)
    return v
  }
  return { compare: list('compare') as TxnCompare[], success: list('success') as TxnOp[], failure: list('failure') as TxnOp[] }
}

/** All values of a repeatable string flag (`--compare a --compare b`). */
function repeated(args: ParsedArgs, name: string): string[] {
  const v = args.flags[name]
  return Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? [v] : []
}

/** The transaction's human output: SUCCESS or FAILURE, then each operation's result. */
export function formatTxn(answer: TxnAnswer): string[] {
  const lines = [answer.succeeded ? 'SUCCESS' : 'FAILURE']
  for (const r of answer.responses) {
    lines.push('')
    if ('put' in r) {
      lines.push('OK')
      if (r.put.prevKv !== undefined) lines.push(...formatKvs([r.put.prevKv]))
    } else if ('delete' in r) {
      lines.push(String(r.delete.deleted))
      if (r.delete.prevKvs !== undefined) lines.push(...formatKvs(r.delete.prevKvs))
    } else {
      lines.push(...(r.get.kvs.length > 0 ? formatKvs(r.get.kvs) : [`(${r.get.count} keys)`]))
    }
  }
  return lines
}

export const txnCommand: Command = {
  name: 'txn',
  usage: [
    "txn --compare '<target>(<key>) <op> <value>' ... --success '<op>' ... --failure '<op>' ...",
    'txn --file <request.json>    (or the JSON request on standard input; - reads it too)',
  ],
  summary: 'run a transaction: if every compare holds, the success operations, else the failure ones',
  flags: {
    compare: { kind: 'string', repeat: true, value: '<compare>', help: "'version(k) = 0', 'mod(k) > 4', 'value(k) != x', 'k = v' (repeatable)" },
    success: { kind: 'string', repeat: true, value: '<op>', help: "'put k v', 'del k [--prefix]', 'get k' (repeatable)" },
    failure: { kind: 'string', repeat: true, value: '<op>', help: 'as --success (repeatable)' },
    file: { kind: 'string', value: '<file>', help: 'the JSON request { compare, success, failure }; - for standard input' },
  },
  async run(ctx, args) {
    noMore(args, 1)
    const request = await readRequest(ctx, args)
    const answer = await ctx.api().txn(request)
    if (ctx.json) return ctx.printJson(answer)
    ctx.print(...formatTxn(answer))
  },
}

async function readRequest(ctx: Context, args: ParsedArgs): Promise<TxnRequest> {
  const compare = repeated(args, 'compare')
  const success = repeated(args, 'success')
  const failure = repeated(args, 'failure')
  const inline = compare.length + success.length + failure.length > 0
  const file = (args.flags.file as string | undefined) ?? args.positionals[0]
  if (inline) {
    if (file !== undefined) throw new UsageError('give the transaction either as --compare/--success/--failure or as a JSON file, not both')
    return { compare: compare.map(parseCompare), success: success.map(parseTxnOp), failure: failure.map(parseTxnOp) }
  }
  if (file !== undefined && file !== '-') {
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (err) {
      throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
    return parseTxnJson(text)
  }
  if (ctx.interactive) throw new UsageError('in the shell, give the transaction as --compare/--success/--failure or --file <request.json>')
  return parseTxnJson(await readAllText(ctx.io.stdin))
}
