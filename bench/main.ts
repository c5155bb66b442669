// Benchmark dispatcher: `npm run bench -- <name> [args]` runs bench/<name>.ts.
const BENCHES: Record<string, () => Promise<{ main(args: string[]): Promise<void> }>> = {
  storage: () => import('./storage.js'),
  raft: () => import('./raft.js'),
  transport: () => import('./transport.js'),
}

const [name, ...args] = process.argv.slice(2)
const load = name === undefined ? undefined : BENCHES[name]
if (load === undefined) {
  console.error(`usage: npm run bench -- <${Object.keys(BENCHES).join('|')}> [args]`)
  process.exitCode = 2
} else {
  await (await load()).main(args)
}
