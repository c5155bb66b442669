/**
 * `GET /v1/watch` as Server-Sent Events. Each revision that touches the watched keys is one event:
 *
 * ```
 * id: 42
 * event: events
 * data: {"revision":42,"events":[{"type":"put","kv":{...}}]}
 * ```
 *
 * `Last-Event-ID` (as an EventSource sends on reconnect) resumes after that revision. A failure
 * (COMPACTED, WATCH_OVERFLOW, the node closing) is one `event: error` whose data is
 * `{ code, message, compactRevision? | resumeRevision? }`, then the stream ends. A `: keepalive`
 * comment goes out every `keepaliveMs` so that proxies and clients see the stream alive.
 */
import { ClosedError } from '../../lib/errors.js'
import { drained } from '../../transports/http-protocol.js'
import type { RequestContext } from './context.js'
import { intValue, Query, toHttpError } from './http-api.js'
import { rangeOf } from './routes-kv.js'

/** Serves one watch until the client goes away, the watch fails, or the node closes. */
export async function serveWatch(ctx: RequestContext, keepaliveMs: number): Promise<void> {
  const q = new Query(ctx.query, ['key', 'prefix', 'end', 'fromKey', 'fromRevision', 'prevKv'])
  const key = q.string('key') ?? ''
  const selector = rangeOf(key, q) ?? key
  let fromRevision = q.int('fromRevision', 1)
  const lastEventId = ctx.req.headers['last-event-id']
  if (typeof lastEventId === 'string' && lastEventId.trim() !== '') fromRevision = intValue(lastEventId.trim(), 'Last-Event-ID', 0) + 1
  const prevKv = q.bool('prevKv')

  // Registered now: without fromRevision the watch starts at the next revision, before the
  // client has seen the headers, so nothing written after it sees them is missed.
  const watch = ctx.node.kv.watch(selector, { fromRevision, prevKv })
  const { res } = ctx
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  })
  res.write(': watching\n\n')
  res.socket?.setNoDelay(true)

  let open = true
  const onClose = (): void => {
    open = false
    void watch.return?.()
  }
  res.on('close', onClose)
  const keepalive = setInterval(() => {
    if (open) res.write(': keepalive\n\n')
  }, keepaliveMs)
  try {
    for (;;) {
      const next = await watch.next()
      if (!open) break
      // A watch never ends by itself: the node is closing. Say so, so the client resumes elsewhere.
      if (next.done) throw new ClosedError('the node is closing; resume the watch on another member')
      const batch = next.value
      const ok = res.write(`id: ${batch.revision}\nevent: events\ndata: ${JSON.stringify(batch)}\n\n`)
      if (!ok && open) await drained(res)
    }
  } catch (err) {
    if (open) {
      const e = toHttpError(err)
      res.write(`event: error\ndata: ${JSON.stringify({ code: e.code, message: e.message, ...e.extras })}\n\n`)
    }
  } finally {
    clearInterval(keepalive)
    res.off('close', onClose)
    await watch.return?.()
    if (open) res.end()
  }
}
