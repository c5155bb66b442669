import t from 'tap'
import { makeMessage, MessageType, type Message } from '../../lib/raft/types.js'
import { InProcessNetwork, type NetworkClock, type InProcessNetworkOptions } from '../../transports/inprocess.js'

/** A virtual clock: timers run when the test advances time, in time order. */
class VirtualClock implements NetworkClock {
  #now = 0
  #seq = 0
  readonly #timers = new Map<number, { at: number; fn: () => void }>()
  now(): number {
    return this.#now
  }
  setTimer(ms: number, fn: () => void): () => void {
    const id = this.#seq++
    this.#timers.set(id, { at: this.#now + ms, fn })
    return () => this.#timers.delete(id)
  }
  advance(ms: number): void {
    const until = this.#now + ms
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined
      for (const e of this.#timers) if (e[1].at <= until && (!next || e[1].at < next[1].at || (e[1].at === next[1].at && e[0] < next[0]))) next = e
      if (!next) break
      this.#timers.delete(next[0])
      this.#now = next[1].at
      next[1].fn()
    }
    this.#now = until
  }
  get pending(): number {
    return this.#timers.size
  }
}

async function setup(options: InProcessNetworkOptions, ids = [1, 2, 3]) {
  const clock = new VirtualClock()
  const net = new InProcessNetwork({ ...options, clock })
  const inbox = new Map<number, Array<{ from: number; messages: readonly Message[] }>>()
  const unreachable: Array<[number, number]> = []
  const transports = new Map<number, ReturnType<InProcessNetwork['transport']>>()
  for (const id of ids) {
    inbox.set(id, [])
    const tr = net.transport()
    await tr.start(id, {
      onMessages: (from, messages) => inbox.get(id)!.push({ from, messages }),
      onUnreachable: (to) => unreachable.push([id, to]),
    })
    transports.set(id, tr)
  }
  return { clock, net, inbox, unreachable, transports }
}

const msg = (from: number, to: number, index: number): Message => makeMessage({ type: MessageType.App, from, to, index })

t.test('delivers batches to the addressee, in order on a FIFO link', async (t) => {
  const { clock, inbox, transports } = await setup({ minDelayMs: 1, maxDelayMs: 20, fifo: true })
  for (let i = 0; i < 50; i++) transports.get(1)!.send(2, [msg(1, 2, i)])
  clock.advance(1000)
  const got = inbox.get(2)!.map((b) => b.messages[0].index)
  t.same(got, Array.from({ length: 50 }, (_, i) => i))
  t.equal(inbox.get(3)!.length, 0, 'nothing for a node it was not sent to')
  t.ok(inbox.get(2)!.every((b) => b.from === 1), 'the sender is known')
})

t.test('random delays reorder when links are not FIFO', async (t) => {
  const { clock, inbox, transports } = await setup({ seed: 3, minDelayMs: 1, maxDelayMs: 50 })
  for (let i = 0; i < 50; i++) transports.get(1)!.send(2, [msg(1, 2, i)])
  clock.advance(1000)
  const got = inbox.get(2)!.map((b) => b.messages[0].index)
  t.equal(got.length, 50, 'all delivered')
  t.not(got.join(','), [...got].sort((a, b) => a - b).join(','), 'some overtook others')
})

t.test('partitions, isolation and one-way cuts drop and report; heal restores', async (t) => {
  const { clock, net, inbox, unreachable, transports } = await setup({})
  net.partition([1], [2, 3])
  transports.get(1)!.send(2, [msg(1, 2, 1)])
  transports.get(2)!.send(3, [msg(2, 3, 1)])
  clock.advance(10)
  t.equal(inbox.get(2)!.length, 0, 'across the partition: lost')
  t.equal(inbox.get(3)!.length, 1, 'within a side: delivered')
  t.same(unreachable, [[1, 2]], 'the sender learns the peer was unreachable')
  net.heal()
  net.cut(2, 1)
  transports.get(1)!.send(2, [msg(1, 2, 2)])
  transports.get(2)!.send(1, [msg(2, 1, 2)])
  clock.advance(10)
  t.equal(inbox.get(2)!.length, 1, 'the other direction still works')
  t.equal(inbox.get(1)!.length, 0, 'the cut direction does not')
  net.heal()
  net.isolate(3)
  transports.get(1)!.send(3, [msg(1, 3, 3)])
  transports.get(3)!.send(2, [msg(3, 2, 3)])
  clock.advance(10)
  t.equal(inbox.get(3)!.length, 1, 'isolated: nothing more arrives')
  t.equal(inbox.get(2)!.length, 1, 'isolated: nothing leaves')
})

t.test('a partition that starts while a batch is in flight loses it', async (t) => {
  const { clock, net, inbox, transports } = await setup({ minDelayMs: 10, maxDelayMs: 10 })
  transports.get(1)!.send(2, [msg(1, 2, 1)])
  clock.advance(5)
  net.isolate(2)
  clock.advance(10)
  t.equal(inbox.get(2)!.length, 0)
})

t.test('drops and duplicates follow the seed', async (t) => {
  const run = async () => {
    const { clock, net, inbox, transports } = await setup({ seed: 9, dropRate: 0.2, duplicateRate: 0.1, maxDelayMs: 5 })
    for (let i = 0; i < 500; i++) transports.get(1)!.send(2, [msg(1, 2, i)])
    clock.advance(100)
    return { stats: { ...net.stats }, got: inbox.get(2)!.map((b) => b.messages[0].index) }
  }
  const a = await run()
  const b = await run()
  t.same(a, b, 'the same seed, the same faults')
  t.ok(a.stats.dropped > 50 && a.stats.dropped < 150, `about 20% dropped (${a.stats.dropped})`)
  t.ok(a.stats.duplicated > 10, `some duplicated (${a.stats.duplicated})`)
  t.equal(a.got.length, 500 - a.stats.dropped + a.stats.duplicated, 'delivered = sent - dropped + duplicated')
})

t.test('close stops delivery and cancels what is in flight', async (t) => {
  const { clock, net, inbox, transports } = await setup({ minDelayMs: 10, maxDelayMs: 10 })
  transports.get(1)!.send(2, [msg(1, 2, 1)])
  await transports.get(2)!.close()
  clock.advance(20)
  t.equal(inbox.get(2)!.length, 0, 'a closed transport receives nothing')
  transports.get(1)!.send(3, [msg(1, 3, 1)])
  net.close()
  t.equal(clock.pending, 0, 'no timer left behind')
  await transports.get(1)!.close()
  transports.get(1)!.send(3, [msg(1, 3, 2)])
  clock.advance(20)
  t.equal(inbox.get(3)!.length, 0)
})
