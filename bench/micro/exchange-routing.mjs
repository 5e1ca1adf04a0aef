/**
 * Micro benchmark: how many records per second a topic exchange routes with 10, 1,000 and 10,000
 * bindings, through the trie (`ExchangeRegistry.route`) and through the naive design it replaces,
 * one anchored regex per binding tested in turn, in the same run so the ratio is fair.
 *
 * Plain ESM over the build output, so it runs on Node 20 without a TypeScript loader:
 *   npm run build && node bench/micro/exchange-routing.mjs [--time-ms 1000] [--seed 42]
 *
 * Each measurement routes a fixed, seeded list of 4,096 routing keys round-robin for at least
 * `--time-ms` after a warm-up of a quarter of that, checking the clock every 256 records so the
 * timer costs nothing per record. Before timing, both routers are checked to agree on every key.
 */
import { ExchangeRegistry } from '../../dist/src/broker/exchanges/index.js'

const args = process.argv.slice(2)
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`)
  return at >= 0 && args[at + 1] !== undefined ? Number(args[at + 1]) : fallback
}
const timeMs = option('time-ms', 1000)
const seed = option('seed', 42)
const BINDING_COUNTS = [10, 1_000, 10_000]
const ROUTING_KEYS = 4096
const TOPICS = 200

function mulberry32(start) {
  let state = start >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

const random = mulberry32(seed)
const pick = (items) => items[Math.floor(random() * items.length)]
const numbered = (prefix, count) => Array.from({ length: count }, (_, i) => `${prefix}${i}`)

// A small event-driven estate: business domains x regions x shops x events, plus service logs.
const domains = ['orders', 'payments', 'inventory', 'shipping', 'users', 'carts', 'reviews', 'search']
const regions = ['eu', 'us', 'apac', 'latam', 'mea', 'ca', 'uk', 'jp']
const shops = numbered('shop', 400)
const events = ['created', 'updated', 'cancelled', 'shipped', 'paid', 'refunded', 'failed', 'deleted']
const services = numbered('svc', 300)
const levels = ['debug', 'info', 'warn', 'error', 'critical']

// Weighted like a real estate: mostly narrow bindings, a few broad ones (`#.critical`, `orders.#`)
// that still fan one record out to many topics.
const bindingTemplates = [
  [30, () => `${pick(domains)}.${pick(regions)}.${pick(shops)}.${pick(events)}`],
  [20, () => `${pick(domains)}.${pick(regions)}.*.${pick(events)}`],
  [15, () => `${pick(domains)}.${pick(regions)}.${pick(shops)}.*`],
  [10, () => `${pick(domains)}.*.${pick(shops)}.#`],
  [10, () => `logs.${pick(services)}.${pick(levels)}`],
  [7, () => `logs.${pick(services)}.#`],
  [5, () => `${pick(domains)}.#.${pick(events)}`],
  [1, () => `logs.*.${pick(levels)}`],
  [1, () => `#.${pick(levels)}`],
  [1, () => `${pick(domains)}.#`],
]
const totalWeight = bindingTemplates.reduce((sum, [weight]) => sum + weight, 0)

function randomBindingKey() {
  let roll = random() * totalWeight
  for (const [weight, template] of bindingTemplates) {
    roll -= weight
    if (roll < 0) return template()
  }
  return bindingTemplates[0][1]()
}

function randomRoutingKey() {
  return random() < 0.7
    ? `${pick(domains)}.${pick(regions)}.${pick(shops)}.${pick(events)}`
    : `logs.${pick(services)}.${pick(levels)}`
}

/**
 * The design the trie replaces: one regex per binding, all tested for every record. Exact RabbitMQ
 * semantics: a non-empty key is matched as '.' + key, so every word, even an empty one, is
 * `\.word`; `*` is `\.[^.]*` and `#` is `(?:\.[^.]*)*`. The empty key has zero words and is ''.
 */
class NaiveRegexRouter {
  #bindings = []

  add(bindingKey, topic) {
    const words = bindingKey === '' ? [] : bindingKey.split('.')
    const body = words
      .map((word) => {
        if (word === '*') return '\\.[^.]*'
        if (word === '#') return '(?:\\.[^.]*)*'
        return `\\.${word.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}`
      })
      .join('')
    this.#bindings.push({ regex: new RegExp(`^${body}$`), topic })
  }

  route(routingKey) {
    const subject = routingKey === '' ? '' : `.${routingKey}`
    const topics = new Set()
    for (const { regex, topic } of this.#bindings) if (regex.test(subject)) topics.add(topic)
    return [...topics]
  }
}

/** Routes keys round-robin for at least `timeMs`; returns records per second and mean fan-out. */
function measure(route, keys) {
  const run = (ms) => {
    let records = 0
    let targets = 0
    const started = performance.now()
    let elapsed = 0
    while (elapsed < ms) {
      for (let i = 0; i < 256; i++) targets += route(keys[(records + i) % keys.length]).length
      records += 256
      elapsed = performance.now() - started
    }
    return { perSecond: (records / elapsed) * 1000, fanOut: targets / records }
  }
  run(timeMs / 4)
  return run(timeMs)
}

function sameTopics(a, b) {
  return a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n')
}

const keys = Array.from({ length: ROUTING_KEYS }, randomRoutingKey)
const rows = []
for (const count of BINDING_COUNTS) {
  const registry = new ExchangeRegistry()
  registry.create({ name: 'events', type: 'topic' })
  const naive = new NaiveRegexRouter()
  const bindings = Array.from({ length: count }, (_, i) => ({
    topic: `topic-${i % TOPICS}`,
    bindingKey: randomBindingKey(),
  }))
  const builtAt = performance.now()
  const fresh = bindings.filter((binding) => registry.bind('events', binding))
  const buildMs = performance.now() - builtAt
  for (const { bindingKey, topic } of fresh) naive.add(bindingKey, topic)
  for (const key of keys) {
    if (!sameTopics(registry.route('events', key), naive.route(key))) {
      throw new Error(
        `trie and regex disagree on ${JSON.stringify(key)} with ${count} bindings (seed ${seed})`,
      )
    }
  }
  const trie = measure((key) => registry.route('events', key), keys)
  const regex = measure((key) => naive.route(key), keys)
  rows.push({ count, bound: registry.get('events').bindings.length, buildMs, trie, regex })
}

const fmt = (n) => Math.round(n).toLocaleString('en-US')
console.log(
  `exchange-routing: topic exchange, ${ROUTING_KEYS} seeded routing keys, seed ${seed}, ${timeMs} ms per run`,
)
console.log(`node ${process.version}, ${process.platform}/${process.arch}\n`)
const header = ['bindings', 'distinct', 'trie rec/s', 'regex rec/s', 'trie/regex', 'topics/rec', 'bind ms']
const table = rows.map((r) => [
  fmt(r.count),
  fmt(r.bound),
  fmt(r.trie.perSecond),
  fmt(r.regex.perSecond),
  `${(r.trie.perSecond / r.regex.perSecond).toFixed(1)}x`,
  r.trie.fanOut.toFixed(2),
  r.buildMs.toFixed(1),
])
const widths = header.map((h, c) => Math.max(h.length, ...table.map((row) => row[c].length)))
const line = (cells) => `| ${cells.map((cell, c) => cell.padStart(widths[c])).join(' | ')} |`
console.log(line(header))
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`)
for (const row of table) console.log(line(row))
