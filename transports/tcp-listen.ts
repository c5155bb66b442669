/**
 * Binding a listening TCP port (for the TCP and HTTP transports, and servers built on them), with
 * a short retry when the port is taken.
 *
 * A fixed port in the system's ephemeral range (32768-60999 on Linux) can be held for a moment
 * by an outgoing connection of any process on the machine: the kernel picks local ports for
 * connections from that range, and a node's peers dialing its port while it is down can even be
 * handed that very port. Such a connection is short-lived, so a listener that meets
 * `EADDRINUSE` tries again for a few seconds before giving up; a port held by another server
 * still fails, only later.
 *
 * @module
 */
import type { Server } from 'node:net'

/** How long {@link listenWithRetry} tries again by default. */
export const LISTEN_RETRY_MS = 3000

const RETRY_EVERY_MS = 100

/** What {@link listenWithRetry} may be told. */
export interface ListenRetryOptions {
  /** How long to keep trying after `EADDRINUSE`. Default {@link LISTEN_RETRY_MS}; 0 fails at once. */
  readonly retryMs?: number
  /** Checked before each new attempt: true gives up (the owner is closing). */
  readonly cancelled?: () => boolean
  /** Called before each new attempt, with the error that made it necessary. */
  readonly onRetry?: (err: NodeJS.ErrnoException) => void
}

function attempt(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err)
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      resolve()
    })
  })
}

/**
 * Makes `server` listen on `host:port`. Port 0 (any free port) and errors other than
 * `EADDRINUSE` fail at once; `EADDRINUSE` is retried every 100 ms for `retryMs`.
 */
export async function listenWithRetry(server: Server, port: number, host: string, options: ListenRetryOptions = {}): Promise<void> {
  const retryMs = options.retryMs ?? LISTEN_RETRY_MS
  const deadline = performance.now() + retryMs
  for (;;) {
    try {
      await attempt(server, port, host)
      return
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      if (e.code !== 'EADDRINUSE' || port === 0 || performance.now() + RETRY_EVERY_MS > deadline || options.cancelled?.()) throw err
      options.onRetry?.(e)
      await new Promise((r) => setTimeout(r, RETRY_EVERY_MS))
      if (options.cancelled?.()) throw err
    }
  }
}
