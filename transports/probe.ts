/**
 * A cheap liveness probe of a peer's listening socket: a TCP connect, closed at once. A refused
 * connection is strong evidence that no process listens there any more (it died, or closed its
 * transport); a timeout or any other error says nothing (a partition, a slow network).
 *
 * @module
 */
import { connect } from 'node:net'

/** What a probe found: `down` only when the connection was refused. */
export type ProbeResult = 'up' | 'down' | 'unknown'

/** Probes under way, so that a transport can cancel them when it closes. */
export class Probes {
  readonly #pending = new Set<() => void>()

  /** Connects to `host:port` and closes; never rejects. */
  probe(host: string, port: number, timeoutMs = 1000): Promise<ProbeResult> {
    return new Promise((resolve) => {
      let socket: ReturnType<typeof connect>
      try {
        socket = connect({ host, port })
      } catch {
        resolve('unknown')
        return
      }
      let settled = false
      const settle = (result: ProbeResult): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        this.#pending.delete(cancel)
        socket.destroy()
        resolve(result)
      }
      const cancel = (): void => settle('unknown')
      this.#pending.add(cancel)
      const timer = setTimeout(cancel, timeoutMs)
      timer.unref()
      socket.once('connect', () => settle('up'))
      socket.once('error', (err: NodeJS.ErrnoException) => settle(err.code === 'ECONNREFUSED' ? 'down' : 'unknown'))
    })
  }

  /** Ends every probe under way (as `unknown`), closing its socket and timer. */
  cancelAll(): void {
    for (const cancel of [...this.#pending]) cancel()
  }
}
