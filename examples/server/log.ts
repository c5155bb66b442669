/**
 * One line per event, on stderr by default: `<time> <level> node <id>: <message>`. Quiet by
 * default: at `info`, only starts and stops, leader and membership changes, and errors.
 */
import type { RaftLogger } from '../../lib/raft/logger.js'

export type LogLevel = 'error' | 'warn' | 'info' | 'debug'

const RANK: Readonly<Record<LogLevel, number>> = { error: 0, warn: 1, info: 2, debug: 3 }

export interface Log {
  error(message: string): void
  warn(message: string): void
  info(message: string): void
  debug(message: string): void
  /** The Raft core's own reports: its info lines are details (debug); its warnings and errors stay. */
  readonly raft: RaftLogger
}

/** A logger for node `id` at `level`, writing whole lines to `sink`. */
export function createLog(id: number, level: LogLevel, sink: (line: string) => void = (l) => process.stderr.write(l + '\n')): Log {
  const max = RANK[level]
  const line = (lvl: LogLevel, message: string): void => {
    if (RANK[lvl] > max) return
    // One event, one line: a message never spans lines.
    sink(`${new Date().toISOString()} ${lvl.padEnd(5)} node ${id}: ${message.replace(/\s*\n\s*/g, ' ')}`)
  }
  return {
    error: (m) => line('error', m),
    warn: (m) => line('warn', m),
    info: (m) => line('info', m),
    debug: (m) => line('debug', m),
    raft: {
      debug: (m) => line('debug', m),
      info: (m) => line('debug', m),
      warn: (m) => line('warn', m),
      error: (m) => line('error', m),
    },
  }
}
