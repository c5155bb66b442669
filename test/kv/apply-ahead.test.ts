// MvccStore.applyAhead: a batch's results and its point reads come before its write lands;
// reads of the database, later batches and close() wait for that write; a write that fails
// stops the store, and what it had shown is not on disk.
import t from 'tap'
import { MemoryLevel } from 'memory-level'
import { MvccStore } from '../../lib/kv/mvcc-store.js'
import { Harness, text, utf8 } from './helpers.js'

/** A memory database whose batches wait at a gate the test opens, or fail. */
class GatedLevel extends MemoryLevel<string, string> {
  gate: Promise<void> | undefined
  open_: (() => void) | undefined
  failNext: Error | undefined
  batches = 0

  hold(): void {
    this.gate = new Promise((resolve) => (this.open_ = resolve))
  }

  release(): void {
    this.open_?.()
    this.gate = undefined
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async _batch(operations: any, options: any): Promise<void> {
    if (this.gate) await this.gate
    if (this.failNext) {
      const err = this.failNext
      this.failNext = undefined
      throw err
    }
    this.batches++
    // memory-level's own, which its TypeScript types do not declare.
    return (MemoryLevel.prototype as unknown as { _batch(o: unknown, p: unknown): Promise<void> })._batch.call(this, operations, options)
  }
}

/** Whether `p` settled by the time a few turns of the event loop have passed. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false
  p.then(
    () => (done = true),
    () => (done = true),
  )
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
  return done
}

t.test('results and point reads before the write lands; database reads and the next batch after it', async (t) => {
  const db = new GatedLevel()
  const h = await Harness.on(db)
  await h.put('a', '1')
  await h.put('b', '1')
  db.hold()
  const batches = db.batches
  const ahead = await h.store.applyAhead([h.entry({ type: 'put', key: utf8('a'), value: utf8('2') })])
  t.equal(ahead.results[0].result.type, 'put', 'the result is there while the write waits')
  t.equal(db.batches, batches, 'nothing was written yet')
  t.equal(h.store.appliedIndex, h.index, 'the applied index is the batch’s')
  const point = await h.store.current(utf8('a'))
  t.equal(text(point.kv!.value), '2', 'a point read of a cached key sees the batch')
  t.equal(point.revision, ahead.revision)

  const scan = h.store.range({ key: utf8('a'), rangeEnd: utf8('c') })
  const next = h.store.applyAhead([h.entry({ type: 'put', key: utf8('b'), value: utf8('2') })])
  t.notOk(await settled(scan), 'a range read of the database waits for the write')
  t.notOk(await settled(next), 'the next batch waits for the write')
  t.notOk(await settled(ahead.written), 'written waits for the write')

  db.release()
  await ahead.written
  t.same(
    (await scan).kvs.map((kv) => `${text(kv.key)}=${text(kv.value)}`),
    ['a=2', 'b=1'],
    'the range read sees the batch it waited for, not the one after',
  )
  await (await next).written
  t.same(await h.dump(), ['a=2', 'b=2'])
  await h.store.close()

  const reopened = await MvccStore.open(db)
  t.equal(reopened.appliedIndex, h.index, 'both batches are on disk')
  await reopened.close()
})

t.test('a failed write stops the store; the database keeps the state before the batch', async (t) => {
  const db = new GatedLevel()
  const h = await Harness.on(db)
  await h.put('a', '1')
  const before = h.store.appliedIndex
  db.failNext = new Error('disk on fire')
  const ahead = await h.store.applyAhead([h.entry({ type: 'put', key: utf8('a'), value: utf8('2') })])
  await t.rejects(ahead.written, /disk on fire/, 'written rejects with the write’s error')
  await t.rejects(h.store.current(utf8('a')), { code: 'CLOSED', message: /a write failed \(disk on fire\)/ }, 'point reads are refused')
  await t.rejects(h.store.range({ key: utf8('a') }), { code: 'CLOSED' }, 'range reads are refused')
  await t.rejects(h.store.applyAhead([h.entry({ type: 'put', key: utf8('a'), value: utf8('3') })]), { code: 'CLOSED' }, 'batches are refused')
  await h.store.close()

  const reopened = await MvccStore.open(db)
  t.equal(reopened.appliedIndex, before, 'the failed batch is not on disk: the log replays it')
  t.equal(text((await reopened.get(utf8('a')))!.value), '1')
  await reopened.close()
})

t.test('close() waits for a write under way', async (t) => {
  const db = new GatedLevel()
  const h = await Harness.on(db)
  db.hold()
  const ahead = await h.store.applyAhead([h.entry({ type: 'put', key: utf8('k'), value: utf8('v') })])
  const closing = h.store.close()
  t.notOk(await settled(closing), 'close waits')
  db.release()
  await closing
  await ahead.written
  const reopened = await MvccStore.open(db)
  t.equal(text((await reopened.get(utf8('k')))!.value), 'v', 'the batch is on disk')
  await reopened.close()
})
