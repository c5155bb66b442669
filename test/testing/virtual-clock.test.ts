import t from 'tap'
import { every } from '../../lib/clock.js'
import { MetastoreError } from '../../lib/errors.js'
import { VirtualClock } from '../../lib/testing/virtual-clock.js'

t.test('timers fire in time order, within an instant in the order they were set, never early', async (t) => {
  const clock = new VirtualClock({ start: 1000 })
  const fired: string[] = []
  clock.setTimer(30, () => fired.push('c@30'))
  clock.setTimer(10, () => fired.push('a@10'))
  clock.setTimer(10, () => fired.push('b@10'))
  clock.setTimer(-5, () => fired.push('now'))
  t.equal(clock.pendingTimers, 4)
  t.equal(clock.nextTimerAt(), 1000)
  await clock.advance(9)
  t.same(fired, ['now'])
  t.equal(clock.now(), 1009)
  await clock.advance(1)
  t.same(fired, ['now', 'a@10', 'b@10'])
  await clock.advance(100)
  t.same(fired, ['now', 'a@10', 'b@10', 'c@30'])
  t.equal(clock.now(), 1110)
  t.equal(clock.pendingTimers, 0)
  t.equal(clock.nextTimerAt(), undefined)
})

t.test('a cancelled timer does not fire', async (t) => {
  const clock = new VirtualClock()
  let fired = 0
  const cancel = clock.setTimer(5, () => fired++)
  clock.setTimer(6, () => fired++)
  cancel()
  t.equal(clock.pendingTimers, 1)
  await clock.advance(10)
  t.equal(fired, 1)
})

t.test('timers set by timers, and by the promises they start, fire within the same advance', async (t) => {
  const clock = new VirtualClock()
  const times: number[] = []
  clock.setTimer(10, () => {
    times.push(clock.now())
    // Zero delay: due at this very instant.
    clock.setTimer(0, () => times.push(clock.now()))
    void (async () => {
      await Promise.resolve()
      await new Promise((r) => setImmediate(r))
      clock.setTimer(5, () => times.push(clock.now()))
    })()
  })
  await clock.advance(20)
  t.same(times, [10, 10, 15])
})

t.test('runUntil moves time in steps until the condition holds, and fails with TIMEOUT after maxMs', async (t) => {
  const clock = new VirtualClock()
  let ticks = 0
  const stop = every(clock, 100, () => ticks++)
  await clock.runUntil(() => ticks >= 5, 10_000, 50)
  t.equal(ticks, 5)
  t.equal(clock.now(), 500, 'stopped at the first step where the condition held')

  const err = await clock.runUntil(async () => false, 1000, 300).catch((e: unknown) => e)
  t.ok(err instanceof MetastoreError && err.code === 'TIMEOUT', 'TIMEOUT')
  t.equal(clock.now(), 1500, 'waited exactly maxMs of virtual time')
  stop()
  t.equal(clock.pendingTimers, 0)
})

t.test('drive moves time until a promise settles and passes on its outcome', async (t) => {
  const clock = new VirtualClock()
  const later = <T>(ms: number, fn: () => T): Promise<T> =>
    new Promise((resolve, reject) =>
      clock.setTimer(ms, () => {
        try {
          resolve(fn())
        } catch (err) {
          reject(err)
        }
      }),
    )
  t.equal(await clock.drive(later(250, () => 'done'), 1000), 'done')
  t.equal(clock.now(), 250)
  await t.rejects(clock.drive(later(10, () => { throw new Error('boom') }), 1000), /boom/)
  const slow = later(5000, () => 'late')
  const err = await clock.drive(slow, 1000).catch((e: unknown) => e)
  t.ok(err instanceof MetastoreError && err.code === 'TIMEOUT', 'TIMEOUT when it takes longer than maxMs')
  await clock.advance(5000)
  t.equal(await slow, 'late', 'the promise itself carries on')
})

t.test('concurrent advances run one after the other', async (t) => {
  const clock = new VirtualClock()
  const fired: number[] = []
  for (const ms of [5, 15, 25]) clock.setTimer(ms, () => fired.push(ms))
  await Promise.all([clock.advance(10), clock.advance(10), clock.advance(10)])
  t.same(fired, [5, 15, 25])
  t.equal(clock.now(), 30)
})

t.test('with a busy option, time waits for real work under way before moving on', async (t) => {
  let working = 0
  const clock = new VirtualClock({ busy: () => working > 0 })
  const events: string[] = []
  clock.setTimer(10, () => {
    working++
    // Real work, as a disk write is: it takes real time the virtual clock cannot see.
    setTimeout(() => {
      working--
      events.push(`write done (virtual ${clock.now()})`)
      clock.setTimer(0, () => events.push(`reply at ${clock.now()}`))
    }, 30)
  })
  clock.setTimer(11, () => events.push(`timeout at ${clock.now()}`))
  await clock.advance(20)
  t.same(events, ['write done (virtual 10)', 'reply at 10', 'timeout at 11'])
})

t.test('a virtual minute of a 1 ms interval runs every tick', async (t) => {
  const clock = new VirtualClock()
  let ticks = 0
  const stop = every(clock, 1, () => ticks++)
  await clock.advance(60_000)
  stop()
  t.equal(ticks, 60_000)
})

t.test('bad arguments are TypeErrors', async (t) => {
  t.throws(() => new VirtualClock({ start: Number.NaN }), TypeError)
  t.throws(() => new VirtualClock({ settleTurns: 0 }), TypeError)
  const clock = new VirtualClock()
  t.throws(() => clock.advance(-1), TypeError)
  t.throws(() => clock.advance(Number.POSITIVE_INFINITY), TypeError)
  await t.rejects(clock.runUntil(() => true, -1), TypeError)
  await t.rejects(clock.runUntil(() => true, 10, 0), TypeError)
})
