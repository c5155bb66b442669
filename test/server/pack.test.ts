// What a user gets from npm: the packed package (the build folder as it is) installs into an
// empty project, where `npx metastore --help` runs and `import('metastore-kv')` gives createNode.
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

// The repository root, three levels above this compiled file (build*/test/server/).
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const NETWORK_ERRORS = /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|network|offline|cache mode is 'only-if-cached'/i

interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

function run(command: string, args: string[], cwd: string, timeoutMs: number): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, npm_config_update_notifier: 'false' } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0
      resolve({ code, stdout: String(stdout), stderr: String(stderr) + (err && code === 1 && !stderr ? err.message : '') })
    })
  })
}

t.test('npm pack, install in an empty project, run the bin and import the package', async (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string }
  t.equal(pkg.name, 'metastore-kv', `the repository root is ${ROOT}`)
  const dir = mkdtempSync(join(tmpdir(), 'metastore-pack-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))

  const pack = await run('npm', ['pack', '--pack-destination', dir], ROOT, 120_000)
  t.equal(pack.code, 0, `npm pack succeeds${pack.code ? `: ${pack.stderr}` : ''}`)
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'))
  if (!tarball) throw new Error(`npm pack made no tarball in ${dir}: ${pack.stderr}`)

  const app = join(dir, 'app')
  mkdirSync(app)
  const install = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(dir, tarball)], app, 300_000)
  if (install.code !== 0 && NETWORK_ERRORS.test(install.stderr)) {
    throw new Error(`installing the package needs its dependencies from the npm registry, which is unreachable (and they are not all in the npm cache):\n${install.stderr}`)
  }
  t.equal(install.code, 0, `npm install succeeds${install.code ? `: ${install.stderr}` : ''}`)

  const help = await run('npx', ['--no-install', 'metastore', '--help'], app, 60_000)
  t.equal(help.code, 0, `npx metastore --help exits 0${help.code ? `: ${help.stderr}` : ''}`)
  t.match(help.stdout, /usage: metastore --id/, 'and prints the usage')

  const imported = await run(process.execPath, ['-e', "import('metastore-kv').then(m => { if (typeof m.createNode !== 'function') process.exit(3); console.log('createNode ok') })"], app, 60_000)
  t.equal(imported.code, 0, `import('metastore-kv') works${imported.code ? `: ${imported.stderr}` : ''}`)
  t.match(imported.stdout, /createNode ok/)
})
