/**
 * The key-value commands: get, put, del, range, prefix, compact.
 *
 * @module
 */
import type { Readable } from 'node:stream'
import type { RangeAnswer } from './api.js'
import { parsePositive, UsageError, type FlagSpecs, type ParsedArgs } from './args.js'
import { CommandError, type Command, type Context } from './context.js'
import { formatKvs, formatValue } from './format.js'

/** A key the command needs, or a usage error naming it. */
export function positional(args: ParsedArgs, index: number, name: string): string {
  const value = args.positionals[index]
  if (value === undefined) throw new UsageError(`missing <${name}>`)
  return value
}

/** Refuses words past the `count` the command takes. */
export function noMore(args: ParsedArgs, count: number): void {
  if (args.positionals.length > count) throw new UsageError(`unexpected argument '${args.positionals[count]}'`)
}

/** An integer flag, if given. */
export function intFlag(args: ParsedArgs, name: string): number | undefined {
  const v = args.flags[name]
  return typeof v === 'number' ? v : undefined
}

/** A string flag, if given. */
export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags[name]
  return typeof v === 'string' ? v : undefined
}

/** Reads all of standard input as UTF-8 text. */
export async function readAllText(stream: Readable): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer))
  return Buffer.concat(chunks).toString('utf8')
}

/** Checks that a key is non-empty (the server refuses empty keys; say it plainly). */
function key(args: ParsedArgs, index: number): string {
  const k = positional(args, index, 'key')
  if (k === '') throw new UsageError('a key cannot be empty')
  return k
}

const RANGE_FLAGS = {
  rev: { kind: 'integer', value: '<revision>', help: 'read at this past revision' },
  serializable: { kind: 'boolean', help: 'read the local state of the endpoint (may be stale)' },
  limit: { kind: 'integer', value: '<n>', help: 'at most n keys' },
  'keys-only': { kind: 'boolean', help: 'print only the keys' },
  'count-only': { kind: 'boolean', help: 'print only the number of keys' },
  sort: { kind: 'string', value: '<target>', help: 'key, version, createRevision, modRevision or value' },
  order: { kind: 'string', value: '<order>', help: 'ascend or descend' },
} as const satisfies FlagSpecs

function printRange(ctx: Context, args: ParsedArgs, answer: RangeAnswer): void {
  if (ctx.json) return ctx.printJson(answer)
  if (args.flags['count-only'] === true) return ctx.print(String(answer.count))
  ctx.print(...formatKvs(answer.kvs, { keysOnly: args.flags['keys-only'] === true }))
  if (answer.more) ctx.note(`(${answer.count - answer.kvs.length} more keys; raise --limit to see them)`)
}

function order(args: ParsedArgs): 'ascend' | 'descend' | undefined {
  const o = stringFlag(args, 'order')
  if (o === undefined) return undefined
  if (o !== 'ascend' && o !== 'descend') throw new UsageError(`--order must be ascend or descend, got '${o}'`)
  return o
}

async function runRange(ctx: Context, args: ParsedArgs, start: string, selection: { prefix?: boolean; end?: string; fromKey?: boolean }): Promise<void> {
  const answer = await ctx.api().range({
    key: start,
    ...selection,
    revision: intFlag(args, 'rev'),
    serializable: args.flags.serializable === true,
    limit: intFlag(args, 'limit'),
    keysOnly: args.flags['keys-only'] === true,
    countOnly: args.flags['count-only'] === true,
    sort: stringFlag(args, 'sort'),
    order: order(args),
  })
  printRange(ctx, args, answer)
}

export const getCommand: Command = {
  name: 'get',
  usage: ['get <key> [--rev N] [--serializable] [--prefix] [--keys-only] [--limit N]'],
  summary: 'print the value of a key (with --prefix: every key under it, key and value on two lines)',
  flags: { ...RANGE_FLAGS, prefix: { kind: 'boolean', help: 'every key starting with <key>' } },
  async run(ctx, args) {
    noMore(args, 1)
    if (args.flags.prefix === true) return runRange(ctx, args, args.positionals[0] ?? '', { prefix: true })
    const k = key(args, 0)
    const kv = await ctx.api().get(k, { revision: intFlag(args, 'rev'), serializable: args.flags.serializable === true })
    if (kv === undefined) throw new CommandError('KEY_NOT_FOUND', `key not found: ${k}`)
    if (ctx.json) return ctx.printJson({ kv })
    ctx.print(args.flags['keys-only'] === true ? kv.key : formatValue(kv.value))
  },
}

export const prefixCommand: Command = {
  name: 'prefix',
  usage: ['prefix [<prefix>] [--limit N] [--keys-only] [--count-only]'],
  summary: 'every key starting with <prefix> (get --prefix); no prefix: every key',
  flags: RANGE_FLAGS,
  async run(ctx, args) {
    noMore(args, 1)
    return runRange(ctx, args, args.positionals[0] ?? '', { prefix: true })
  },
}

export const rangeCommand: Command = {
  name: 'range',
  usage: ['range <start> [<end>] [--limit N] [--keys-only] [--count-only] [--rev N]'],
  summary: 'keys in [start, end); without <end>, every key from <start> on',
  flags: RANGE_FLAGS,
  async run(ctx, args) {
    noMore(args, 2)
    const start = key(args, 0)
    const end = args.positionals[1]
    return runRange(ctx, args, start, end === undefined ? { fromKey: true } : { end })
  },
}

export const putCommand: Command = {
  name: 'put',
  usage: ['put <key> <value> [--lease ID] [--prev-kv] [--json-value]', 'put <key> - (the value is read from standard input)'],
  summary: 'set a key; prints OK',
  flags: {
    lease: { kind: 'integer', value: '<id>', help: 'attach the key to this lease' },
    'prev-kv': { kind: 'boolean', help: 'print the previous value' },
    'json-value': { kind: 'boolean', help: 'the value is JSON, stored as a JSON value (not a string)' },
  },
  async run(ctx, args) {
    noMore(args, 2)
    const k = key(args, 0)
    let value = positional(args, 1, 'value')
    if (value === '-') {
      if (ctx.interactive) throw new UsageError("in the shell, give the value itself (quote it), not '-'")
      // One trailing newline is what `echo` adds, not part of the value.
      value = (await readAllText(ctx.io.stdin)).replace(/\r?\n$/, '')
    }
    let body: { text: string } | { json: unknown } = { text: value }
    if (args.flags['json-value'] === true) {
      try {
        body = { json: JSON.parse(value) as unknown }
      } catch (err) {
        throw new UsageError(`--json-value: the value is not JSON (${(err as Error).message})`)
      }
    }
    const answer = await ctx.api().put(k, body, { lease: intFlag(args, 'lease'), prevKv: args.flags['prev-kv'] === true })
    if (ctx.json) return ctx.printJson(answer)
    ctx.print('OK')
    if (answer.prevKv !== undefined) ctx.print(...formatKvs([answer.prevKv]))
  },
}

export const delCommand: Command = {
  name: 'del',
  aliases: ['delete', 'rm'],
  usage: ['del <key> [<end>] [--prefix] [--from-key] [--prev-kv]'],
  summary: 'delete a key, a prefix or a range; prints how many keys were deleted',
  flags: {
    prefix: { kind: 'boolean', help: 'every key starting with <key>' },
    'from-key': { kind: 'boolean', help: 'every key from <key> on' },
    'prev-kv': { kind: 'boolean', help: 'print the deleted keys and values' },
  },
  async run(ctx, args) {
    noMore(args, 2)
    const prefix = args.flags.prefix === true
    const k = prefix ? (args.positionals[0] ?? '') : key(args, 0)
    const end = args.positionals[1]
    if (end !== undefined && (prefix || args.flags['from-key'] === true)) throw new UsageError('<end> cannot be used with --prefix or --from-key')
    const answer = await ctx.api().delete({
      key: k,
      prefix,
      fromKey: args.flags['from-key'] === true,
      end,
      prevKv: args.flags['prev-kv'] === true,
    })
    if (ctx.json) return ctx.printJson(answer)
    ctx.print(String(answer.deleted))
    if (answer.prevKvs !== undefined) ctx.print(...formatKvs(answer.prevKvs))
  },
}

export const compactCommand: Command = {
  name: 'compact',
  usage: ['compact <revision>'],
  summary: 'discard the history before <revision>',
  flags: {},
  async run(ctx, args) {
    noMore(args, 1)
    const revision = parsePositive(positional(args, 0, 'revision'), '<revision>')
    const answer = await ctx.api().compact(revision)
    if (ctx.json) return ctx.printJson(answer)
    ctx.print(`compacted revision ${answer.compactRevision}`)
  },
}
