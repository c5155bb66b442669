/**
 * `snapshot save <file>`: streams `GET /v1/snapshot` to a file. The data goes to `<file>.part`,
 * is synced, then renamed, so `<file>` is either absent or complete.
 *
 * @module
 */
import { createHash } from 'node:crypto'
import { open, rename, rm } from 'node:fs/promises'
import { UsageError } from './args.js'
import type { Command } from './context.js'
import { formatBytes } from './format.js'
import { noMore, positional } from './kv-commands.js'
import { Progress } from './progress.js'

export const snapshotCommand: Command = {
  name: 'snapshot',
  usage: ['snapshot save <file>'],
  summary: 'save the current state of the endpoint to a file (to start a new cluster from)',
  flags: {},
  async run(ctx, args) {
    const sub = args.positionals[0]
    if (sub !== 'save') throw new UsageError(sub === undefined ? 'missing snapshot subcommand: save' : `unknown snapshot subcommand '${sub}' (save)`)
    noMore(args, 2)
    const file = positional(args, 1, 'file')
    const partial = `${file}.part`
    const stream = await ctx.client().open({ method: 'GET', path: '/v1/snapshot', headers: { accept: 'application/octet-stream' }, signal: ctx.signal })
    const total = Number(stream.response.headers['content-length'] ?? Number.NaN)
    const progress = new Progress(ctx.io.stderr, ctx.io.stderrIsTTY)
    const hash = createHash('sha256')
    const stop = (): void => {
      stream.response.destroy(new Error('interrupted'))
    }
    ctx.signal.addEventListener('abort', stop, { once: true })
    let bytes = 0
    const started = Date.now()
    const handle = await open(partial, 'w')
    try {
      for await (const chunk of stream.response) {
        const buf = chunk as Buffer
        await handle.write(buf)
        hash.update(buf)
        bytes += buf.length
        progress.update(`snapshot: ${formatBytes(bytes)}${Number.isFinite(total) && total > 0 ? ` of ${formatBytes(total)} (${Math.floor((bytes * 100) / total)}%)` : ''}`)
      }
      if (Number.isFinite(total) && bytes !== total) throw new Error(`the snapshot stream ended after ${bytes} of ${total} bytes`)
      await handle.sync()
      await handle.close()
      await rename(partial, file)
    } catch (err) {
      await handle.close().catch(() => {})
      await rm(partial, { force: true })
      throw err
    } finally {
      progress.done()
      ctx.signal.removeEventListener('abort', stop)
    }
    const sha256 = hash.digest('hex')
    const seconds = (Date.now() - started) / 1000
    if (ctx.json) return ctx.printJson({ file, bytes, sha256, endpoint: stream.endpoint })
    ctx.print(`snapshot saved to ${file} (${formatBytes(bytes)}, sha256 ${sha256}) from ${stream.endpoint} in ${seconds.toFixed(1)}s`)
  },
}
