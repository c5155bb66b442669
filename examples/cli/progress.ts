/**
 * A one-line progress report on stderr, redrawn in place, shown only when stderr is a terminal
 * (never in pipes, logs or tests).
 *
 * @module
 */
import type { Writable } from 'node:stream'

/** Redraws one status line at most every `intervalMs`. */
export class Progress {
  readonly #stream: Writable | undefined
  readonly #intervalMs: number
  #lastDraw = 0
  #width = 0

  /** `enabled` false makes every call a no-op. */
  constructor(stream: Writable, enabled: boolean, intervalMs = 100) {
    this.#stream = enabled ? stream : undefined
    this.#intervalMs = intervalMs
  }

  /** Shows `text` (throttled unless `force`). */
  update(text: string, force = false): void {
    if (this.#stream === undefined) return
    const now = Date.now()
    if (!force && now - this.#lastDraw < this.#intervalMs) return
    this.#lastDraw = now
    const pad = Math.max(0, this.#width - text.length)
    this.#width = text.length
    this.#stream.write(`\r${text}${' '.repeat(pad)}`)
  }

  /** Clears the line. */
  done(): void {
    if (this.#stream === undefined || this.#width === 0) return
    this.#stream.write(`\r${' '.repeat(this.#width)}\r`)
    this.#width = 0
  }
}
