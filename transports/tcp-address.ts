/**
 * Addresses of the TCP transport: `host:port`, `[v6]:port`, or a URL (`tcp://`, `tls://`,
 * `http://`, `https://`) of which only the host and port are used.
 *
 * @module
 */
import type { TcpAddress } from './tcp-dial.js'

const SCHEMES = new Set(['tcp:', 'tls:', 'http:', 'https:'])

/**
 * Parses an address; throws a `TypeError` for anything else. `allowZero` accepts port 0 (listen on
 * any free port).
 *
 * @example
 * parseAddress('tls://10.0.0.2:7001') // { host: '10.0.0.2', port: 7001 }
 */
export function parseAddress(input: string, allowZero = false): TcpAddress {
  if (typeof input !== 'string' || input.length === 0 || input.length > 1024) throw new TypeError('an address is a non-empty string')
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(input) ? input : `tcp://${input}`
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new TypeError(`not an address: ${JSON.stringify(input)}`)
  }
  if (!SCHEMES.has(url.protocol)) throw new TypeError(`not a TCP address: ${JSON.stringify(input)} (use host:port, tcp://, tls:// or http://)`)
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
  // The URL parser drops a scheme's default port (80 for http): take it back.
  const port = url.port === '' ? (url.protocol === 'http:' ? 80 : url.protocol === 'https:' ? 443 : NaN) : Number(url.port)
  if (host.length === 0) throw new TypeError(`no host in ${JSON.stringify(input)}`)
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535) throw new TypeError(`no valid port in ${JSON.stringify(input)}`)
  return { host, port }
}

/** Normalizes the `listen` option. */
export function listenAddress(listen: { host?: string; port: number } | string): TcpAddress {
  if (typeof listen === 'string') return parseAddress(listen, true)
  if (typeof listen !== 'object' || listen === null) throw new TypeError('listen is { host?, port } or "host:port"')
  const port = listen.port
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`listen.port must be an integer in 0..65535, not ${String(port)}`)
  if (listen.host !== undefined && (typeof listen.host !== 'string' || listen.host.length === 0)) throw new TypeError('listen.host must be a non-empty string')
  return { host: listen.host ?? '127.0.0.1', port }
}

/** `host:port`, with brackets around an IPv6 host. */
export function formatAddress(a: TcpAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`
}
