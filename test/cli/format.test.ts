// What the CLI prints for people, and how it reads a watch stream: no server needed.
import t from 'tap'
import { PassThrough } from 'node:stream'
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { formatBytes, formatDuration, formatKvs, formatValue, membersTable, printableBytes, statusTable, table } from '../../examples/cli/format.js'
import { describeCommand, describeEntry } from '../../examples/cli/inspect-read.js'
import { Progress } from '../../examples/cli/progress.js'
import { HISTORY_SIZE, historyPath, loadHistory } from '../../examples/cli/shell.js'
import { formatTxn } from '../../examples/cli/txn.js'
import { formatWatchBatch, SseParser } from '../../examples/cli/watch.js'
import { encodeEnvelope } from '../../lib/kv/codec.js'
import { encodeConfChange } from '../../lib/raft/conf-change-codec.js'
import { EntryType } from '../../lib/raft/types.js'
import { tempDir } from './helpers.js'

const kv = (key: string, value: unknown) => ({ key, value, createRevision: 2, modRevision: 3, version: 1, lease: 0 })

t.test('values: strings as they are, other JSON compact', async (t) => {
  t.equal(formatValue('hello world'), 'hello world')
  t.equal(formatValue({ a: [1, 2] }), '{"a":[1,2]}')
  t.equal(formatValue(7), '7')
  t.equal(formatValue(null), 'null')
  t.strictSame(formatKvs([kv('a', '1'), kv('b', { x: true })]), ['a', '1', 'b', '{"x":true}'])
  t.strictSame(formatKvs([kv('a', '1')], { keysOnly: true }), ['a'])
})

t.test('tables: borders, numbers right-aligned, control characters escaped', async (t) => {
  t.strictSame(table(['ID', 'NAME'], [[1, 'ab'], [22, 'c\nd']]), [
    '+----+------+',
    '| ID | NAME |',
    '+----+------+',
    '|  1 | ab   |',
    '| 22 | c\\nd |',
    '+----+------+',
  ])
  const members = membersTable([
    { id: 3, role: 'learner', address: 'http://c:1' },
    { id: 1, role: 'voter', address: 'http://a:1' },
  ])
  t.match(members[3], /\|\s+1 \| voter\s+\| http:\/\/a:1/, 'sorted by id')
  t.match(members[4], /\|\s+3 \| learner \| http:\/\/c:1/)
  const ok = { id: 1, role: 'leader', term: 2, leader: 1, commitIndex: 9, appliedIndex: 9, revision: 5, compactRevision: 0 }
  t.notMatch(statusTable([{ endpoint: 'http://a:1', status: ok }]).join('\n'), /ERROR/, 'no error column when all answered')
  const mixed = statusTable([{ endpoint: 'http://a:1', status: ok }, { endpoint: 'http://b:1', error: 'UNREACHABLE: refused' }]).join('\n')
  t.match(mixed, /ERROR/)
  t.match(mixed, /http:\/\/b:1 .*UNREACHABLE: refused/)
})

t.test('sizes, durations and bytes for people', async (t) => {
  t.equal(formatBytes(512), '512 B')
  t.equal(formatBytes(1536), '1.5 KiB')
  t.equal(formatBytes(50 * 1024 * 1024), '50 MiB')
  t.equal(formatDuration(250), '250ms')
  t.equal(formatDuration(4200), '4.2s')
  t.equal(formatDuration(83_500), '1m23.5s')
  t.equal(printableBytes(new TextEncoder().encode('key/1')), 'key/1')
  t.equal(printableBytes(Uint8Array.of(0, 1, 255)), '0x0001ff')
  t.equal(printableBytes(new TextEncoder().encode('x'.repeat(100)), 10), 'xxxxxxxxx…')
})

t.test('watch batches and txn answers as etcdctl lays them out', async (t) => {
  const batch = {
    revision: 4,
    events: [
      { type: 'put' as const, kv: kv('a', 'new'), prevKv: kv('a', 'old') },
      { type: 'delete' as const, kv: kv('b', undefined) },
    ],
  }
  t.strictSame(formatWatchBatch(batch), ['PUT', 'a', 'new', 'DELETE', 'b'])
  t.strictSame(formatWatchBatch(batch, { prevKv: true }), ['PUT', 'a', 'old', 'a', 'new', 'DELETE', 'b'])
  const answer = {
    succeeded: false,
    revision: 5,
    responses: [{ get: { kvs: [kv('a', '1')], count: 1, more: false, revision: 5 } }, { put: { revision: 5 } }, { delete: { revision: 5, deleted: 2 } }],
  }
  t.strictSame(formatTxn(answer), ['FAILURE', '', 'a', '1', '', 'OK', '', '2'])
})

t.test('SSE: events split across chunks, comments skipped, CRLF accepted', async (t) => {
  const p = new SseParser()
  t.strictSame(p.push(': keepalive\n\nid: 3\nevent: events\nda'), [])
  t.strictSame(p.push('ta: {"revision":3}\n\n'), [{ id: '3', event: 'events', data: '{"revision":3}' }])
  t.strictSame(p.push('event: error\r\ndata: {"code":"COMPACTED",\r'), [])
  t.strictSame(p.push('\ndata: "x":1}\r\n\r\n'), [{ id: '3', event: 'error', data: '{"code":"COMPACTED",\n"x":1}' }], 'the id carries over; data lines join')
  t.strictSame(p.push('data:no space\n\n'), [{ id: '3', event: 'message', data: 'no space' }])
})

t.test('entries summarized for inspect', async (t) => {
  const enc = new TextEncoder()
  const put = encodeEnvelope({ clientId: 'c1', seq: 4, cmd: { type: 'put', key: enc.encode('user/1'), value: Uint8Array.of(0xa3, 0x61, 0x64, 0x61), lease: 7 } })
  const e = describeEntry({ index: 9, term: 2, type: EntryType.Normal, data: put })
  t.equal(e.type, 'normal')
  t.equal(e.size, put.length)
  t.equal(e.summary, 'put "user/1" = "ada" lease 7 [c1#4]')
  t.match(describeEntry({ index: 2, term: 2, type: EntryType.Normal, data: new Uint8Array(0) }).summary, /empty entry/)
  const cc = encodeConfChange({ changes: [{ type: 'addLearner', nodeId: 4 }], context: enc.encode('{"a":"http://d:1"}') })
  t.equal(describeEntry({ index: 3, term: 2, type: EntryType.ConfChange, data: cc }).summary, 'conf change: addLearner 4 context {"a":"http://d:1"}')
  t.match(describeEntry({ index: 4, term: 2, type: EntryType.Normal, data: Uint8Array.of(1, 2, 3) }).summary, /^undecodable command/)
  t.match(describeEntry({ index: 5, term: 2, type: EntryType.ConfChange, data: Uint8Array.of(1) }).summary, /^undecodable conf change/)
  t.equal(
    describeCommand({ type: 'deleteRange', key: enc.encode('a'), rangeEnd: Uint8Array.of(0) }),
    'delete from "a"',
  )
  t.equal(describeCommand({ type: 'leaseExpire', ids: [1, 2] }), 'lease expire 1, 2')
})

t.test('progress is drawn only on a terminal', async (t) => {
  const quiet = new PassThrough()
  let written = ''
  quiet.on('data', (d: Buffer) => (written += d.toString()))
  const off = new Progress(quiet, false)
  off.update('x', true)
  off.done()
  t.equal(written, '')
  const on = new Progress(quiet, true)
  on.update('reading 1', true)
  on.update('reading 2', false) // throttled
  on.done()
  t.match(written, /\rreading 1/)
  t.notMatch(written, /reading 2/)
  t.match(written, /\r {9}\r$/, 'the line is cleared at the end')
})

t.test('the history file: where it lives, how much of it is kept', async (t) => {
  t.equal(historyPath({ METASTORE_HISTORY: '/x/h' }), '/x/h')
  t.equal(historyPath({ HOME: '/home/u' }), '/home/u/.metastore_history')
  const dir = tempDir('history')
  t.teardown(dir.remove)
  const file = join(dir.path, 'h')
  t.strictSame(loadHistory(file), [], 'no file: no history')
  writeFileSync(file, 'get a\n\nput a 1\n')
  t.strictSame(loadHistory(file), ['get a', 'put a 1'])
  for (let i = 0; i < 2 * HISTORY_SIZE + 5; i++) appendFileSync(file, `get k${i}\n`)
  const kept = loadHistory(file)
  t.equal(kept.length, HISTORY_SIZE)
  t.equal(kept[kept.length - 1], `get k${2 * HISTORY_SIZE + 4}`)
  t.equal(readFileSync(file, 'utf8').trim().split('\n').length, HISTORY_SIZE, 'the file is trimmed')
})
