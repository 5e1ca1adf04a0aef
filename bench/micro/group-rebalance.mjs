/**
 * Micro benchmark: what one consumer-group rebalance costs with 100, 1,000 and 10,000 members, and
 * what a mass session expiry (half of the members gone at once) costs in all.
 *
 * Plain ESM over the build output (STRATA_BENCH_DIST picks another build, so one command measures
 * before and after):
 *   npm run build && node bench/micro/group-rebalance.mjs [--partitions 64] [--budget-ms 20000]
 *   STRATA_BENCH_DIST=$(node bench/clean-build.mjs <rev>) node bench/micro/group-rebalance.mjs
 *
 * Scenarios, each on one topic of `--partitions` partitions, every member subscribed:
 * - join: N − 1 members hold a balanced assignment and one more joins; one rebalance.
 * - expiry, one sweep: N/2 members expire together and the survivors rebalance once.
 * - expiry, one per member: the same N/2 expiries rebalanced one after another (how the
 *   coordinator handled them before it swept expired sessions together). Stops once `--budget-ms`
 *   is spent and reports how far it got.
 */
import { join } from 'node:path'
import { DIST } from '../lib/proc.mjs'

const { assignPartitions } = await import(join(DIST, 'src/broker/groups/assignors.js'))

const args = process.argv.slice(2)
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`)
  return at >= 0 && args[at + 1] !== undefined ? Number(args[at + 1]) : fallback
}
const partitions = option('partitions', 64)
const budgetMs = option('budget-ms', 20_000)
const MEMBER_COUNTS = [100, 1_000, 10_000]
const counts = new Map([['t', partitions]])

const idOf = (i) => `member-${String(i).padStart(6, '0')}`
const rebalance = (ids, current) =>
  assignPartitions(
    ids.map((memberId) => ({ memberId, topics: ['t'], current: current.get(memberId) ?? [] })),
    counts,
  )

/** Median of `runs` timings of `fn` (ms), after one warm-up. */
function time(fn, runs = 5) {
  fn()
  const samples = []
  for (let i = 0; i < runs; i++) {
    const started = performance.now()
    fn()
    samples.push(performance.now() - started)
  }
  return samples.sort((a, b) => a - b)[Math.floor(runs / 2)]
}

const rows = []
for (const n of MEMBER_COUNTS) {
  const ids = Array.from({ length: n }, (_, i) => idOf(i))
  const settled = rebalance(ids.slice(0, n - 1), new Map())
  const joinMs = time(() => rebalance(ids, settled), n >= 10_000 ? 3 : 5)
  const full = rebalance(ids, settled)
  const survivors = ids.filter((_, i) => i % 2 === 0)
  const sweepMs = time(() => rebalance(survivors, full), n >= 10_000 ? 3 : 5)
  // One rebalance per expired member, in the order their timers fire.
  let remaining = [...ids]
  let current = full
  let done = 0
  const started = performance.now()
  for (let i = 1; i < n && performance.now() - started < budgetMs; i += 2) {
    remaining = remaining.filter((id) => id !== ids[i])
    current = rebalance(remaining, current)
    done++
  }
  const perMemberMs = performance.now() - started
  rows.push({ n, joinMs, sweepMs, perMemberMs, done, expired: Math.floor(n / 2) })
}

const ms = (v) => (v < 10 ? v.toFixed(2) : v.toFixed(0))
console.log(`group-rebalance: one topic of ${partitions} partitions, build ${DIST}`)
console.log(`node ${process.version}, ${process.platform}/${process.arch}\n`)
console.log(
  '| members | join: one rebalance ms | half expire, one sweep ms | half expire, one rebalance each ms |',
)
console.log(
  '|--------:|-----------------------:|--------------------------:|-----------------------------------:|',
)
for (const r of rows) {
  const each =
    r.done === r.expired
      ? ms(r.perMemberMs)
      : `> ${ms(r.perMemberMs)} (${r.done.toLocaleString('en-US')} of ${r.expired.toLocaleString('en-US')} in the budget)`
  console.log(`| ${r.n.toLocaleString('en-US')} | ${ms(r.joinMs)} | ${ms(r.sweepMs)} | ${each} |`)
}
