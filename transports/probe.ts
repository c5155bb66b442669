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

/** Connects to `host:port` and closes; never rejects. */
export function probeAddress(host: string, port: number, timeoutMs = 1000): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    let settled = false
    const settle = (result: ProbeResult): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve(result)
    }
    const timer = setTimeout(() => settle('unknown'), timeoutMs)
    socket.once('connect', () => settle('up'))
    socket.once('error', (err: NodeJS.ErrnoException) => settle(err.code === 'ECONNREFUSED' ? 'down' : 'unknown'))
  })
}
