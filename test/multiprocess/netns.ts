/**
 * A small network of Linux network namespaces for partition tests: one namespace per node, each
 * with an `eth0` (10.77.0.<id>/24) on a veth pair whose other end is on a bridge in a namespace of
 * its own, so nothing touches the host's network. Partitions are `iptables` DROP rules on INPUT in
 * the namespaces (packets vanish silently, as on a real network); without iptables, blackhole
 * routes (the sender's packets are discarded).
 *
 * Names carry a random tag, so a run never meets the leftovers of a crashed one. `destroy()`
 * deletes the namespaces, which takes their links, bridge and rules with them.
 *
 * @module
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** Runs a command; rejects with its stderr in the message. */
async function sh(cmd: string, args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { timeout: 20_000 })
    return stdout
  } catch (err) {
    const e = err as { stderr?: string; message: string }
    throw new Error(`${cmd} ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`)
  }
}

async function has(cmd: string, args: readonly string[]): Promise<boolean> {
  try {
    await run(cmd, args, { timeout: 10_000 })
    return true
  } catch {
    return false
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM'
  }
}

export class NetnsLab {
  readonly #tag: string
  readonly #ids: readonly number[]
  #iptables: boolean
  readonly #created: string[] = []
  /** Partition rules in force, by node: the command that removes each (run in its namespace). */
  readonly #rules = new Map<number, string[][]>()

  private constructor(ids: readonly number[], iptables: boolean) {
    // The test process's id in the name lets a later run remove what a crashed one left.
    this.#tag = `${process.pid}-${randomBytes(2).toString('hex')}`
    this.#ids = ids
    this.#iptables = iptables
  }

  /** Why namespaces cannot be used here, or undefined if they can (root, `ip`, netns support). */
  static async unavailable(): Promise<string | undefined> {
    if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`
    if (process.getuid?.() !== 0) return 'network namespaces need root'
    if (!(await has('ip', ['-V']))) return 'the ip command (iproute2) is not installed'
    return undefined
  }

  /**
   * Why partition tests cannot run here, or undefined if they can: checks the platform, root and
   * `ip`, then builds and removes an empty network (which fails without netns support or rights).
   */
  static async probe(): Promise<string | undefined> {
    const why = await NetnsLab.unavailable()
    if (why) return why
    await NetnsLab.#sweep()
    let lab: NetnsLab | undefined
    try {
      await NetnsLab.create([], (l) => (lab = l))
      return undefined
    } catch (err) {
      return `cannot build network namespaces: ${(err as Error).message}`
    } finally {
      await lab?.destroy()
    }
  }

  /** Deletes the namespaces of test processes that are gone (a crashed run's leftovers). */
  static async #sweep(): Promise<void> {
    const list = await sh('ip', ['netns', 'list']).catch(() => '')
    for (const line of list.split('\n')) {
      const m = /^(ms-(\d+)-[0-9a-f]+-\S+)/.exec(line)
      if (!m || alive(Number(m[2]))) continue
      await sh('ip', ['netns', 'del', m[1]]).catch(() => {})
    }
  }

  /** Builds the network for `ids`. Call `destroy()` in teardown whether this resolves or not. */
  static async create(ids: readonly number[], onCreated: (lab: NetnsLab) => void): Promise<NetnsLab> {
    // MULTIPROCESS_NETNS_ROUTES=1 tries the fallback where iptables exists.
    const iptables = process.env.MULTIPROCESS_NETNS_ROUTES !== '1' && (await has('iptables', ['-V']))
    const lab = new NetnsLab(ids, iptables)
    onCreated(lab)
    await lab.#build()
    return lab
  }

  /** Whether partitions are iptables rules (else blackhole routes). */
  get usesIptables(): boolean {
    return this.#iptables
  }

  get #bridgeNs(): string {
    return `ms-${this.#tag}-br`
  }

  /** The namespace node `id` runs in. */
  ns(id: number): string {
    return `ms-${this.#tag}-n${id}`
  }

  /** Node `id`'s address. */
  ip(id: number): string {
    return `10.77.0.${id}`
  }

  /** The command prefix that runs a program in node `id`'s namespace. */
  prefix(id: number): string[] {
    return ['ip', 'netns', 'exec', this.ns(id)]
  }

  async #build(): Promise<void> {
    const br = this.#bridgeNs
    await sh('ip', ['netns', 'add', br])
    this.#created.push(br)
    await sh('ip', ['-n', br, 'link', 'set', 'lo', 'up'])
    await sh('ip', ['-n', br, 'link', 'add', 'br0', 'type', 'bridge'])
    await sh('ip', ['-n', br, 'link', 'set', 'br0', 'up'])
    // An iptables that cannot work in a namespace (no netfilter support) leaves routes to cut links.
    if (this.#iptables && !(await has('ip', ['netns', 'exec', br, 'iptables', '-S']))) this.#iptables = false
    for (const id of this.#ids) {
      const ns = this.ns(id)
      await sh('ip', ['netns', 'add', ns])
      this.#created.push(ns)
      await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
      await sh('ip', ['-n', br, 'link', 'add', `v${id}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
      await sh('ip', ['-n', br, 'link', 'set', `v${id}`, 'master', 'br0'])
      await sh('ip', ['-n', br, 'link', 'set', `v${id}`, 'up'])
      await sh('ip', ['-n', ns, 'addr', 'add', `${this.ip(id)}/24`, 'dev', 'eth0'])
      await sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up'])
    }
  }

  /**
   * Splits the nodes into groups that cannot reach one another (each group keeps its own links):
   * every node drops what comes from a node outside its group. Replaces any earlier partition.
   */
  async partition(groups: ReadonlyArray<readonly number[]>): Promise<void> {
    await this.heal()
    const groupOf = new Map<number, number>()
    groups.forEach((g, i) => g.forEach((id) => groupOf.set(id, i)))
    for (const id of this.#ids) {
      for (const other of this.#ids) {
        if (other === id || groupOf.get(other) === groupOf.get(id)) continue
        await this.#cut(id, other)
      }
    }
  }

  /** Removes every partition. */
  async heal(): Promise<void> {
    for (const [id, rules] of this.#rules) {
      for (const undo of rules) await sh('ip', ['netns', 'exec', this.ns(id), ...undo])
    }
    this.#rules.clear()
  }

  /** Node `id` stops hearing from `from` (an iptables DROP rule on INPUT; else a blackhole route back). */
  async #cut(id: number, from: number): Promise<void> {
    const [add, undo] = this.#iptables
      ? [['iptables', '-A', 'INPUT', '-s', this.ip(from), '-j', 'DROP'], ['iptables', '-D', 'INPUT', '-s', this.ip(from), '-j', 'DROP']]
      : [['ip', 'route', 'add', 'blackhole', `${this.ip(from)}/32`], ['ip', 'route', 'del', 'blackhole', `${this.ip(from)}/32`]]
    await sh('ip', ['netns', 'exec', this.ns(id), ...add])
    const list = this.#rules.get(id) ?? []
    list.push(undo)
    this.#rules.set(id, list)
  }

  /** Deletes every namespace it made (and with them the links, bridge and rules). */
  async destroy(): Promise<void> {
    for (const ns of this.#created.reverse()) {
      await sh('ip', ['netns', 'del', ns]).catch(() => {})
    }
    this.#created.length = 0
  }
}
