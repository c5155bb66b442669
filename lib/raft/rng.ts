/**
 * The only source of randomness the core uses (election timeouts). Injected so that a simulation
 * replays exactly from its seed.
 */
export interface Rng {
  /** A uniformly distributed integer in [0, n). */
  int(n: number): number
}

/**
 * A small, fast, seeded generator (sfc32). Good statistical quality for simulation, not for
 * cryptography.
 */
export class SeededRng implements Rng {
  #a: number
  #b: number
  #c: number
  #d: number

  constructor(seed: number) {
    this.#a = 0x9e3779b9
    this.#b = 0x243f6a88
    this.#c = 0xb7e15162
    this.#d = seed >>> 0
    // Mix in the high bits of seeds beyond 32 bits.
    this.#a ^= Math.floor(seed / 0x100000000) >>> 0
    for (let i = 0; i < 15; i++) this.next()
  }

  /** A uniformly distributed 32-bit unsigned integer. */
  next(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0
    this.#d = (this.#d + 1) | 0
    this.#a = this.#b ^ (this.#b >>> 9)
    this.#b = (this.#c + (this.#c << 3)) | 0
    this.#c = (this.#c << 21) | (this.#c >>> 11)
    this.#c = (this.#c + t) | 0
    return t >>> 0
  }

  int(n: number): number {
    if (n <= 0) return 0
    return Math.floor((this.next() / 0x100000000) * n)
  }

  /** A float in [0, 1). */
  float(): number {
    return this.next() / 0x100000000
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p
  }

  /** An independent generator derived from this one (for a sub-component). */
  fork(): SeededRng {
    return new SeededRng(this.next() * 0x10000 + (this.next() & 0xffff))
  }
}
