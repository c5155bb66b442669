/**
 * `lease grant|revoke|keepalive|ttl|list`.
 *
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { parsePositive, UsageError, type ParsedArgs } from './args.js'
import { ApiError } from './client.js'
import { CommandError, type Command, type Context } from './context.js'
import { formatDuration } from './format.js'
import { noMore, positional } from './kv-commands.js'

function leaseId(args: ParsedArgs): number {
  return parsePositive(positional(args, 1, 'id'), '<id>')
}

function notFound(id: number): CommandError {
  return new CommandError('LEASE_NOT_FOUND', `lease ${id} not found (expired or revoked)`)
}

async function keepAlive(ctx: Context, id: number, once: boolean): Promise<void> {
  for (;;) {
    let answer: { id: number; ttl: number }
    try {
      answer = await ctx.api().leaseKeepAlive(id, ctx.signal)
    } catch (err) {
      if (ctx.signal.aborted && !once) return
      if (err instanceof ApiError && err.code === 'LEASE_NOT_FOUND') throw notFound(id)
      throw err
    }
    if (ctx.json) ctx.printJson(answer)
    else ctx.print(`lease ${answer.id} keepalived with TTL(${answer.ttl})`)
    if (once) return
    // A third of the TTL, as etcd's client does: two renewals can fail before the lease expires.
    try {
      await sleep(Math.max(500, (answer.ttl * 1000) / 3), undefined, { signal: ctx.signal })
    } catch {
      return
    }
  }
}

export const leaseCommand: Command = {
  name: 'lease',
  usage: ['lease grant <ttl seconds>', 'lease revoke <id>', 'lease keepalive <id> [--once]', 'lease ttl <id> [--keys]', 'lease list'],
  summary: 'grant, revoke, renew and look at leases',
  flags: {
    once: { kind: 'boolean', help: 'keepalive: renew once and exit' },
    keys: { kind: 'boolean', help: 'ttl: list the attached keys' },
  },
  async run(ctx, args) {
    const sub = args.positionals[0]
    const api = ctx.api()
    switch (sub) {
      case 'grant': {
        noMore(args, 2)
        const ttl = parsePositive(positional(args, 1, 'ttl'), '<ttl>')
        const answer = await api.leaseGrant(ttl)
        if (ctx.json) return ctx.printJson(answer)
        return ctx.print(`lease ${answer.id} granted with TTL(${answer.ttl}s)`)
      }
      case 'revoke': {
        noMore(args, 2)
        const id = leaseId(args)
        let answer: { revision: number; deleted: number }
        try {
          answer = await api.leaseRevoke(id)
        } catch (err) {
          if (err instanceof ApiError && err.code === 'LEASE_NOT_FOUND') throw notFound(id)
          throw err
        }
        if (ctx.json) return ctx.printJson(answer)
        return ctx.print(`lease ${id} revoked (${answer.deleted} keys deleted)`)
      }
      case 'keepalive': {
        noMore(args, 2)
        return keepAlive(ctx, leaseId(args), args.flags.once === true)
      }
      case 'ttl':
      case 'timetolive': {
        noMore(args, 2)
        const id = leaseId(args)
        const answer = await api.leaseTtl(id)
        if (answer === undefined) throw notFound(id)
        if (ctx.json) return ctx.printJson(answer)
        ctx.print(`lease ${answer.id} granted with TTL(${answer.ttl}s), remaining(${formatDuration(answer.remainingMs)})`)
        if (args.flags.keys === true) ctx.print(`attached keys(${answer.keys.length}): ${answer.keys.join(', ')}`)
        else if (answer.keys.length > 0) ctx.print(`${answer.keys.length} keys attached (--keys lists them)`)
        return
      }
      case 'list':
      case 'ls': {
        noMore(args, 1)
        const leases = await api.leases()
        if (ctx.json) return ctx.printJson({ leases })
        return ctx.print(`found ${leases.length} leases`, ...leases.map(String))
      }
      case undefined:
        throw new UsageError('missing lease subcommand: grant, revoke, keepalive, ttl or list')
      default:
        throw new UsageError(`unknown lease subcommand '${sub}' (grant, revoke, keepalive, ttl, list)`)
    }
  },
}
