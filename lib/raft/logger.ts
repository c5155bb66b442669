/** Where the core reports what it did. The default prints nothing. */
export interface RaftLogger {
  debug(message: string): void
  info(message: string): void
  warn(message: string): void
  error(message: string): void
}

export const silentLogger: RaftLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
}
