// Ambient types for the two untyped test-only modules the storage tests use.

declare module 'tape' {
  interface Tape {
    (name: string, fn: (t: unknown) => unknown): void
    onFinish(fn: () => void): void
    onFailure(fn: () => void): void
  }
  const tape: Tape
  export default tape
}

declare module 'abstract-level/test/index.js' {
  /** abstract-level's compliance suite: runs every test of the interface against `factory()`. */
  function suite(options: { test: unknown; factory: (options?: object) => unknown }): void
  export default suite
}
