/**
 * The large data set of the recovery and memory scenarios: a single-member cluster on LevelDB
 * holding N keys (`fill-0000000000`..., 256-byte values), written once in big transactions and
 * kept under the data directory between runs (a marker file records what it holds).
 *
 * @module
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { NodeProc } from './node-cluster.js'
import { rssBytes } from './procs.js'

/** Puts per fill transaction, and transactions in flight. */
export const FILL_BATCH = 1000
export const FILL_IN_FLIGHT = 4
const FORMAT = 1

/** What building the data set measured (kept in its marker file). */
export interface DatasetInfo {
  readonly format: number
  readonly keys: number
  readonly fillSeconds: number
  /** Resident memory of the writer when it finished. */
  readonly writerRssBytes: number
}

/** The data directory of a cached N-key data set, building it first if needed. */
export async function dataset(baseDir: string, keys: number): Promise<{ dir: string; info: DatasetInfo; built: boolean }> {
  const root = join(baseDir, `dataset-${keys}`)
  const dir = join(root, 'db')
  const marker = join(root, 'dataset.json')
  if (existsSync(marker)) {
    const info = JSON.parse(readFileSync(marker, 'utf8')) as DatasetInfo
    if (info.format === FORMAT && info.keys === keys) return { dir, info, built: false }
  }
  rmSync(root, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  console.error(`building the ${keys}-key data set in ${dir} (cached for later runs)`)
  const proc = new NodeProc({ id: 1, peers: [], dataDir: dir, engine: 'level', clusterId: 'bench-dataset' })
  try {
    await proc.ready
    const r = await proc.call<{ seconds: number }>('fill', { keys, batch: FILL_BATCH, inFlight: FILL_IN_FLIGHT })
    const info: DatasetInfo = { format: FORMAT, keys, fillSeconds: Math.round(r.seconds * 100) / 100, writerRssBytes: rssBytes(proc.pid) }
    await proc.stop()
    writeFileSync(marker, JSON.stringify(info))
    return { dir, info, built: true }
  } finally {
    proc.kill()
  }
}
