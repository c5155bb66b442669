// Benchmark dispatcher: `npm run bench -- <name> [args]` runs bench/<name>.ts, or a scenario of
// the suite side by side with etcd (bench/suite.ts).
const BENCHES: Record<string, () => Promise<{ main(args: string[]): Promise<void> }>> = {
  storage: () => import('./storage.js'),
  raft: () => import('./raft.js'),
  transport: () => import('./transport.js'),
}

/** The scenarios of the suite side by side with etcd (bench/suite.ts), by name. */
const SUITE = ['suite', 'kv', 'embedded', 'http', 'etcd', 'inprocess', 'recovery', 'catchup', 'failover', 'memory', 'profile']

const [name, ...args] = process.argv.slice(2)
if (name !== undefined && SUITE.includes(name)) {
  await (await import('./suite.js')).main([name, ...args])
} else {
  const load = name === undefined ? undefined : BENCHES[name]
  if (load === undefined) {
    console.error(`usage: npm run bench -- <${[...Object.keys(BENCHES), ...SUITE].join('|')}> [args]`)
    process.exitCode = 2
  } else {
    await (await load()).main(args)
  }
}
