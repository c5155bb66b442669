/** How a simulated run failed. Each class has its own exit code, as in TigerBeetle's VOPR. */
export type FailureClass = 'correctness' | 'liveness' | 'crash'

export const EXIT_CODES: Readonly<Record<FailureClass, number>> = { crash: 127, liveness: 128, correctness: 129 }

export class Violation extends Error {
  readonly failure: FailureClass
  readonly invariant: string
  readonly time: number
  constructor(failure: FailureClass, invariant: string, time: number, message: string) {
    super(`${invariant} violated at t=${time}ms: ${message}`)
    this.name = 'Violation'
    this.failure = failure
    this.invariant = invariant
    this.time = time
  }
}
