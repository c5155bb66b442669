import t from 'tap'
import { Metrics } from '../../lib/metrics.js'

t.test('counters, gauges and histograms render in the Prometheus text format', async (t) => {
  const m = new Metrics()
  const sent = m.counter('x_sent_total', 'Messages sent.')
  sent.inc({ peer: 2 }, 3)
  sent.inc({ peer: 2 })
  sent.inc({ peer: 3 })
  const pair = m.counter('x_pair_total', 'Two labels.')
  pair.inc({ a: 1, b: 'q"x' })
  pair.inc({ b: 'q"x', a: 1 }, 2)
  t.equal(sent.get({ peer: 2 }), 4, 'one series per label set')
  t.equal(pair.get({ b: 'q"x', a: 1 }), 3, 'the order of the labels does not make another series')
  t.equal(m.counter('x_sent_total', 'again'), sent, 'asking twice gives the same metric')
  t.throws(() => m.gauge('x_sent_total', 'clash'), TypeError, 'a name keeps its type')
  let level = 7
  m.gauge('x_level', 'A level.', () => level)
  level = 9
  const h = m.histogram('x_seconds', 'Durations.', [0.1, 1])
  h.observe(0.05)
  h.observe(0.5)
  h.observe(5)
  const text = m.render()
  t.match(text, /# TYPE x_sent_total counter\nx_sent_total\{peer="2"\} 4\nx_sent_total\{peer="3"\} 1\n/)
  t.match(text, /x_pair_total\{a="1",b="q\\"x"\} 3\n/, 'labels sorted and escaped')
  t.match(text, /x_level 9\n/, 'a gauge reads its callback at render time')
  t.match(text, /x_seconds_bucket\{le="0.1"\} 1\nx_seconds_bucket\{le="1"\} 2\nx_seconds_bucket\{le="\+Inf"\} 3\nx_seconds_sum 5.55\nx_seconds_count 3\n/, 'cumulative buckets')
})
