// Temporary directories for storage tests, removed when the test that made them ends.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Makes a fresh directory under the OS temp dir; `remove()` deletes it and everything in it. */
export function tempDir(label: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `metastore-${label}-`))
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) }
}
