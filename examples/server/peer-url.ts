/**
 * Peer URLs: where a node listens for its peers. The scheme picks the transport: `http://` and
 * `https://` the HTTP transport, `tcp://` and `tls://` the TCP transport.
 */

const SCHEMES = new Set(['http:', 'https:', 'tcp:', 'tls:'])

/** Checks one peer URL (a known scheme, a host, a port, nothing else); a `TypeError` says what is wrong. */
export function parsePeerUrl(raw: string): URL {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new TypeError(`${JSON.stringify(raw)} is not a URL (expected e.g. http://127.0.0.1:12379)`)
  }
  if (!SCHEMES.has(url.protocol)) throw new TypeError(`peer URL ${raw} must start with http://, https://, tcp:// or tls://`)
  if (url.hostname === '' || url.port === '') throw new TypeError(`peer URL ${raw} needs a host and a port`)
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new TypeError(`peer URL ${raw} must have no path, query, fragment or credentials`)
  }
  return url
}

/** `http` for http:// and https:// peers, `tcp` for tcp:// and tls://. */
export function transportKind(url: URL): 'http' | 'tcp' {
  return url.protocol === 'http:' || url.protocol === 'https:' ? 'http' : 'tcp'
}

/** The canonical text of a peer URL (`http://127.0.0.1:12379`): what is replicated as the member's address. */
export function canonicalPeerUrl(url: URL): string {
  return `${url.protocol}//${url.host}`
}
