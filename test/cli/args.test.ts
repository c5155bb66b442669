// The CLI's parsing, without a server: words and quotes, flags, the command word, endpoints,
// transactions written as flags or JSON.
import t from 'tap'
import { parseArgs, parseInteger, quoteWord, splitWords, UsageError } from '../../examples/cli/args.js'
import { keyPath, parseEndpoints, query } from '../../examples/cli/client.js'
import { commandIndex, defaultSettings } from '../../examples/cli/run.js'
import { parseCompare, parseTxnJson, parseTxnOp } from '../../examples/cli/txn.js'

t.test('splitWords: blanks, quotes and backslashes as a shell splits plain words', async (t) => {
  t.strictSame(splitWords('  get   key  '), ['get', 'key'])
  t.strictSame(splitWords('put greeting "hello world"'), ['put', 'greeting', 'hello world'])
  t.strictSame(splitWords("put k 'a \"quoted\" value'"), ['put', 'k', 'a "quoted" value'])
  t.strictSame(splitWords('put k "say \\"hi\\"\\n"'), ['put', 'k', 'say "hi"\n'])
  t.strictSame(splitWords('put k a\\ b'), ['put', 'k', 'a b'])
  t.strictSame(splitWords('put k ""'), ['put', 'k', ''], 'an empty quoted word is a word')
  t.strictSame(splitWords('value("my key")'), ['value(my key)'], 'quotes join with the letters around them')
  t.strictSame(splitWords(''), [])
  t.throws(() => splitWords("put k 'open"), UsageError)
  t.throws(() => splitWords('put k "open'), UsageError)
})

t.test('quoteWord gives back what splitWords reads', async (t) => {
  for (const word of ['plain', 'with space', "it's", '', 'a"b', 'tab\there', '$HOME', 'x\\y']) {
    t.strictSame(splitWords(quoteWord(word)), [word], JSON.stringify(word))
  }
  t.equal(quoteWord('http://h:1/a'), 'http://h:1/a', 'a URL needs no quotes')
})

t.test('parseArgs: long, short and inline flags anywhere; -- ends flags; - is a word', async (t) => {
  const specs = {
    limit: { kind: 'integer' },
    prefix: { kind: 'boolean' },
    'write-out': { kind: 'string', short: 'w' },
    compare: { kind: 'string', repeat: true },
  } as const
  const a = parseArgs(['k', '--limit', '5', '--prefix', '-w', 'json', '--compare=a', '--compare', 'b', '-'], specs)
  t.strictSame(a.positionals, ['k', '-'])
  t.strictSame(a.flags, { limit: 5, prefix: true, 'write-out': 'json', compare: ['a', 'b'] })
  t.strictSame(parseArgs(['-wjson'], specs).flags, { 'write-out': 'json' })
  t.strictSame(parseArgs(['--prefix=false'], specs).flags, { prefix: false })
  t.strictSame(parseArgs(['--', '--prefix', '-x'], specs).positionals, ['--prefix', '-x'])
  t.strictSame(parseArgs(['--limit=0x10'], specs).flags, { limit: 16 })
  t.throws(() => parseArgs(['--nope'], specs), { name: 'UsageError', message: /unknown flag --nope/ })
  t.throws(() => parseArgs(['-x'], specs), { name: 'UsageError' })
  t.throws(() => parseArgs(['--limit'], specs), { name: 'UsageError', message: /needs a value/ })
  t.throws(() => parseArgs(['--limit', 'ten'], specs), { name: 'UsageError', message: /non-negative integer/ })
  t.throws(() => parseArgs(['--limit', '-3'], specs), { name: 'UsageError' })
  t.throws(() => parseArgs(['--prefix=yes'], specs), { name: 'UsageError' })
  t.throws(() => parseArgs(['--toString'], specs), { name: 'UsageError' }, 'no inherited names')
})

t.test('parseInteger: decimal and hex, nothing else', async (t) => {
  t.equal(parseInteger('42', 'n'), 42)
  t.equal(parseInteger('0xff', 'n'), 255)
  for (const bad of ['', '1.5', '1e3', '-1', '9007199254740993', 'abc']) t.throws(() => parseInteger(bad, 'n'), UsageError, bad)
})

t.test('commandIndex skips global flags and their values', async (t) => {
  t.equal(commandIndex(['--endpoints', 'http://a', '--json', 'get', 'k']), 3)
  t.equal(commandIndex(['-w', 'json', 'status']), 2)
  t.equal(commandIndex(['--timeout=5', 'put', 'k', 'v']), 1)
  t.equal(commandIndex(['--json']), -1, 'no command: the shell')
  t.equal(commandIndex([]), -1)
})

t.test('endpoints: URLs checked, scheme added, trailing slashes dropped', async (t) => {
  t.strictSame(parseEndpoints('http://127.0.0.1:12380/, 127.0.0.1:22380'), ['http://127.0.0.1:12380', 'http://127.0.0.1:22380'])
  t.strictSame(parseEndpoints('https://h.example:443/base/'), ['https://h.example/base'])
  t.throws(() => parseEndpoints(''), TypeError)
  t.throws(() => parseEndpoints('ftp://x'), TypeError)
  t.throws(() => parseEndpoints('http://'), TypeError)
  t.strictSame(defaultSettings({}).endpoints, ['http://127.0.0.1:12380'])
  t.strictSame(defaultSettings({ METASTORE_ENDPOINTS: 'http://a:1,http://b:2' }).endpoints, ['http://a:1', 'http://b:2'])
})

t.test('keys travel as one path segment; queries drop unset flags', async (t) => {
  t.equal(keyPath('a/b c?d#e%'), 'a%2Fb%20c%3Fd%23e%25')
  t.equal(decodeURIComponent(keyPath('..')), '..')
  t.equal(query({ prefix: true, limit: 5, rev: undefined, keysOnly: false }), '?prefix=true&limit=5')
  t.equal(query({}), '')
  t.equal(query({ key: 'a&b' }), '?key=a%26b')
})

t.test('txn compares: target(key) op value, and key op value', async (t) => {
  t.strictSame(parseCompare('version(lock) = 0'), { key: 'lock', target: 'version', op: '=', value: 0 })
  t.strictSame(parseCompare('mod(a/b) > 7'), { key: 'a/b', target: 'modRevision', op: '>', value: 7 })
  t.strictSame(parseCompare('createRevision(k) < 3'), { key: 'k', target: 'createRevision', op: '<', value: 3 })
  t.strictSame(parseCompare('lease(k) != 0x10'), { key: 'k', target: 'lease', op: '!=', value: 16 })
  t.strictSame(parseCompare('value(k) == "two words"'), { key: 'k', target: 'value', op: '=', value: 'two words' })
  t.strictSame(parseCompare('color = blue'), { key: 'color', target: 'value', op: '=', value: 'blue' })
  t.strictSame(parseCompare('value("my key") = x'), { key: 'my key', target: 'value', op: '=', value: 'x' })
  t.strictSame(parseCompare('other(k) = 1'), { key: 'other(k)', target: 'value', op: '=', value: '1' }, 'an unknown target is part of the key')
  t.throws(() => parseCompare('version(k) = zero'), UsageError)
  t.throws(() => parseCompare('version(k) >= 1'), UsageError)
  t.throws(() => parseCompare('k = two words'), UsageError)
  t.throws(() => parseCompare('version() = 1'), UsageError)
})

t.test('txn operations: put, del and get with their flags', async (t) => {
  t.strictSame(parseTxnOp('put k "a b"'), { put: { key: 'k', value: 'a b' } })
  t.strictSame(parseTxnOp('put k 5 --lease 9 --prev-kv'), { put: { key: 'k', value: '5', lease: 9, prevKv: true } })
  t.strictSame(parseTxnOp(`put k '{"n":1}' --json-value`), { put: { key: 'k', value: { n: 1 } } })
  t.strictSame(parseTxnOp('del k'), { delete: { key: 'k' } })
  t.strictSame(parseTxnOp('del p/ --prefix --prev-kv'), { delete: { key: 'p/', prefix: true, prevKv: true } })
  t.strictSame(parseTxnOp('delete a c'), { delete: { key: 'a', end: 'c' } })
  t.strictSame(parseTxnOp('get a --from-key --limit 3'), { get: { key: 'a', end: '\0', limit: 3 } })
  t.strictSame(parseTxnOp('get "" --prefix --count-only'), { get: { key: '', prefix: true, countOnly: true } })
  t.throws(() => parseTxnOp('put k'), UsageError)
  t.throws(() => parseTxnOp('put k v --json-value'), UsageError)
  t.throws(() => parseTxnOp('del'), UsageError)
  t.throws(() => parseTxnOp('get a b --prefix'), UsageError)
  t.throws(() => parseTxnOp('touch k'), UsageError)
})

t.test('txn JSON: the server request, with missing lists empty', async (t) => {
  t.strictSame(parseTxnJson('{"success":[{"put":{"key":"a","value":1}}]}'), { compare: [], success: [{ put: { key: 'a', value: 1 } }], failure: [] })
  t.throws(() => parseTxnJson('not json'), UsageError)
  t.throws(() => parseTxnJson('[]'), UsageError)
  t.throws(() => parseTxnJson('{"compare":{}}'), UsageError)
})
