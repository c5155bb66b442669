/**
 * The cluster commands: `members`, `status`, `health`, `move-leader`.
 *
 * @module
 */
import type { Health, Member } from './api.js'
import { parsePositive, UsageError } from './args.js'
import { CommandError, type Command, type Context } from './context.js'
import { membersTable, statusTable, table, type EndpointStatus } from './format.js'
import { noMore, positional } from './kv-commands.js'

function printMembers(ctx: Context, members: Member[], note?: string): void {
  if (ctx.json) return ctx.printJson({ members })
  if (note !== undefined) ctx.print(note)
  ctx.print(...membersTable(members))
}

export const membersCommand: Command = {
  name: 'members',
  aliases: ['member'],
  usage: ['members list', 'members add <id> <peer URL> [--learner]', 'members promote <id>', 'members remove <id>'],
  summary: 'list and change the members of the cluster',
  flags: { learner: { kind: 'boolean', help: 'add: join as a learner (promote it once caught up)' } },
  async run(ctx, args) {
    const sub = args.positionals[0] ?? 'list'
    const api = ctx.api()
    switch (sub) {
      case 'list':
      case 'ls':
        noMore(args, 1)
        return printMembers(ctx, await api.members())
      case 'add': {
        noMore(args, 3)
        const id = parsePositive(positional(args, 1, 'id'), '<id>')
        const address = positional(args, 2, 'peer URL')
        try {
          new URL(address)
        } catch {
          throw new UsageError(`<peer URL> must be a URL such as http://10.0.0.4:12379, got '${address}'`)
        }
        const learner = args.flags.learner === true
        return printMembers(ctx, await api.addMember(id, address, learner), `member ${id} added as a ${learner ? 'learner' : 'voter'}`)
      }
      case 'promote': {
        noMore(args, 2)
        const id = parsePositive(positional(args, 1, 'id'), '<id>')
        return printMembers(ctx, await api.promote(id), `member ${id} promoted to voter`)
      }
      case 'remove':
      case 'rm': {
        noMore(args, 2)
        const id = parsePositive(positional(args, 1, 'id'), '<id>')
        return printMembers(ctx, await api.removeMember(id), `member ${id} removed`)
      }
      default:
        throw new UsageError(`unknown members subcommand '${sub}' (list, add, promote, remove)`)
    }
  },
}

/** Asks every endpoint at once; failures become rows with their error. */
async function eachEndpoint<T>(ctx: Context, ask: (endpoint: string) => Promise<T>): Promise<Array<{ endpoint: string; value?: T; error?: string }>> {
  return Promise.all(
    ctx.client().endpoints.map(async (endpoint) => {
      try {
        return { endpoint, value: await ask(endpoint) }
      } catch (err) {
        const e = err as Error & { code?: unknown }
        return { endpoint, error: typeof e.code === 'string' ? `${e.code}: ${e.message}` : e.message }
      }
    }),
  )
}

export const statusCommand: Command = {
  name: 'status',
  usage: ['status'],
  summary: 'the Raft and KV status of each endpoint (exit code 1 if one did not answer)',
  flags: {},
  async run(ctx, args) {
    noMore(args, 0)
    const rows = await eachEndpoint(ctx, (endpoint) => ctx.api().status(endpoint))
    const failed = rows.filter((r) => r.error !== undefined)
    if (ctx.json) {
      ctx.printJson(rows.map((r) => (r.error !== undefined ? { endpoint: r.endpoint, error: r.error } : { endpoint: r.endpoint, status: r.value })))
    } else {
      ctx.print(...statusTable(rows.map((r): EndpointStatus => ({ endpoint: r.endpoint, status: r.value, error: r.error }))))
    }
    if (failed.length > 0) throw new CommandError('UNREACHABLE', `${failed.length} of ${rows.length} endpoints did not answer`)
  },
}

export const healthCommand: Command = {
  name: 'health',
  usage: ['health'],
  summary: 'whether each endpoint knows a leader and has caught up (exit code 1 if one is not healthy)',
  flags: {},
  async run(ctx, args) {
    noMore(args, 0)
    const rows = await eachEndpoint<Health>(ctx, (endpoint) => ctx.api().health(endpoint))
    if (ctx.json) {
      ctx.printJson(rows.map((r) => ({ endpoint: r.endpoint, ...(r.value ?? { health: false, reason: r.error }) })))
    } else {
      ctx.print(
        ...table(
          ['ENDPOINT', 'HEALTHY', 'LEADER', 'REASON'],
          rows.map((r) => [r.endpoint, r.value?.health === true ? 'yes' : 'no', r.value?.leader ?? '', r.value?.reason ?? r.error ?? '']),
        ),
      )
    }
    const unhealthy = rows.filter((r) => r.value?.health !== true).length
    if (unhealthy > 0) throw new CommandError('UNHEALTHY', `${unhealthy} of ${rows.length} endpoints are not healthy`)
  },
}

export const moveLeaderCommand: Command = {
  name: 'move-leader',
  usage: ['move-leader <id>'],
  summary: 'hand the leadership to member <id>',
  flags: {},
  async run(ctx, args) {
    noMore(args, 1)
    const id = parsePositive(positional(args, 0, 'id'), '<id>')
    const answer = await ctx.api().transferLeader(id)
    if (ctx.json) return ctx.printJson(answer)
    ctx.print(`leader is now member ${answer.leader}`)
  },
}
