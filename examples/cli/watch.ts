/**
 * `watch`: follows a key, a prefix or a range through the server's Server-Sent Events stream,
 * printing each event until Ctrl-C. A broken connection is resumed (at the next endpoint if
 * need be) after the last revision printed, so no event is lost or printed twice.
 *
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { KV } from './api.js'
import { UsageError } from './args.js'
import { ApiError, query } from './client.js'
import { CommandError, type Command, type Context } from './context.js'
import { formatValue } from './format.js'
import { intFlag, noMore } from './kv-commands.js'

/** One event of an SSE stream. */
export interface SseEvent {
  readonly id?: string
  readonly event: string
  readonly data: string
}

/**
 * An incremental parser of `text/event-stream`: feed it text as it arrives, get whole events.
 * Comment lines (`: keepalive`) are skipped; `data` lines of one event are joined with `\n`.
 */
export class SseParser {
  #buffer = ''
  #id: string | undefined
  #event = ''
  #data: string[] = []

  /** Adds text; returns the events it completed. */
  push(text: string): SseEvent[] {
    this.#buffer += text
    const out: SseEvent[] = []
    for (;;) {
      const nl = this.#buffer.search(/\r\n|\r|\n/)
      if (nl === -1) break
      const width = this.#buffer.startsWith('\r\n', nl) ? 2 : 1
      // A lone '\r' at the end may be the first half of '\r\n': wait for more.
      if (width === 1 && this.#buffer[nl] === '\r' && nl === this.#buffer.length - 1) break
      const line = this.#buffer.slice(0, nl)
      this.#buffer = this.#buffer.slice(nl + width)
      const event = this.#line(line)
      if (event !== undefined) out.push(event)
    }
    return out
  }

  #line(line: string): SseEvent | undefined {
    if (line === '') {
      if (this.#data.length === 0) {
        this.#event = ''
        return undefined
      }
      const event: SseEvent = { event: this.#event || 'message', data: this.#data.join('\n'), ...(this.#id !== undefined ? { id: this.#id } : {}) }
      this.#event = ''
      this.#data = []
      return event
    }
    if (line.startsWith(':')) return undefined
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'data') this.#data.push(value)
    else if (field === 'event') this.#event = value
    else if (field === 'id') this.#id = value
    return undefined
  }
}

/** One batch of the watch stream. */
export interface WatchBatch {
  readonly revision: number
  readonly events: ReadonlyArray<{ readonly type: 'put' | 'delete'; readonly kv: KV; readonly prevKv?: KV }>
}

/** A batch as people read it (etcdctl's layout): the event type, then key and value lines. */
export function formatWatchBatch(batch: WatchBatch, options: { prevKv?: boolean } = {}): string[] {
  const lines: string[] = []
  for (const e of batch.events) {
    lines.push(e.type === 'put' ? 'PUT' : 'DELETE')
    if (options.prevKv === true && e.prevKv !== undefined) lines.push(e.prevKv.key, formatValue(e.prevKv.value))
    lines.push(e.kv.key)
    if (e.type === 'put') lines.push(formatValue(e.kv.value))
  }
  return lines
}

/** The error a stream ends with (`event: error`). */
function streamError(endpoint: string, data: string): Error {
  try {
    const body = JSON.parse(data) as { code?: unknown; message?: unknown }
    const code = typeof body.code === 'string' ? body.code : 'WATCH_FAILED'
    const { code: _c, message, ...details } = body as Record<string, unknown>
    const text = typeof message === 'string' ? message : code
    return new ApiError(endpoint, 200, code, text, details)
  } catch {
    return new CommandError('WATCH_FAILED', `the watch failed: ${data}`)
  }
}

export const watchCommand: Command = {
  name: 'watch',
  usage: ['watch <key> [--prefix] [--rev N] [--prev-kv]', 'watch --prefix (every key)'],
  summary: 'print the changes to a key, prefix or range as they happen, until Ctrl-C',
  flags: {
    prefix: { kind: 'boolean', help: 'every key starting with <key>' },
    rev: { kind: 'integer', value: '<revision>', help: 'start at this past revision (replays history)' },
    'prev-kv': { kind: 'boolean', help: 'print the previous value of each key too' },
  },
  async run(ctx, args) {
    noMore(args, 1)
    const prefix = args.flags.prefix === true
    const key = args.positionals[0] ?? ''
    if (key === '' && !prefix) throw new UsageError('missing <key> (or --prefix to watch every key)')
    await follow(ctx, { key, prefix, fromRevision: intFlag(args, 'rev'), prevKv: args.flags['prev-kv'] === true })
  },
}

interface WatchTarget {
  readonly key: string
  readonly prefix: boolean
  readonly fromRevision: number | undefined
  readonly prevKv: boolean
}

/** Streams until the signal aborts or the server ends the watch with an error. */
async function follow(ctx: Context, target: WatchTarget): Promise<void> {
  let last: number | undefined
  let backoffMs = 200
  while (!ctx.signal.aborted) {
    const fromRevision = last !== undefined ? last + 1 : target.fromRevision
    let endpoint = ''
    try {
      const stream = await ctx.client().open({
        method: 'GET',
        path: `/v1/watch${query({ key: target.key, prefix: target.prefix, fromRevision, prevKv: target.prevKv })}`,
        headers: { accept: 'text/event-stream', ...(last !== undefined ? { 'last-event-id': String(last) } : {}) },
        signal: ctx.signal,
      })
      endpoint = stream.endpoint
      const stop = (): void => {
        stream.response.destroy()
      }
      ctx.signal.addEventListener('abort', stop, { once: true })
      try {
        const parser = new SseParser()
        stream.response.setEncoding('utf8')
        for await (const chunk of stream.response) {
          for (const event of parser.push(chunk as string)) {
            if (event.event === 'error') throw streamError(endpoint, event.data)
            if (event.event !== 'events') continue
            const batch = JSON.parse(event.data) as WatchBatch
            // A resumed stream never repeats a revision; this guards against a server that would.
            if (last !== undefined && batch.revision <= last) continue
            last = batch.revision
            backoffMs = 200
            if (ctx.json) ctx.printJson(batch)
            else ctx.print(...formatWatchBatch(batch, { prevKv: target.prevKv }))
          }
        }
      } finally {
        ctx.signal.removeEventListener('abort', stop)
      }
      if (ctx.signal.aborted) return
      ctx.note(`watch: ${endpoint} closed the stream; resuming`)
    } catch (err) {
      if (ctx.signal.aborted) return
      // The server's verdict on the watch itself (compacted, bad request) is final.
      if (err instanceof ApiError && err.status !== 503) throw err
      if (err instanceof CommandError) throw err
      ctx.note(`watch: ${(err as Error).message}; retrying in ${backoffMs} ms`)
    }
    try {
      await sleep(backoffMs, undefined, { signal: ctx.signal })
    } catch {
      return
    }
    backoffMs = Math.min(backoffMs * 2, 5000)
  }
}
