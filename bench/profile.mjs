#!/usr/bin/env node
/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`, or `npm run bench -- --cpu-prof DIR`):
 * self time by function and by file or package, so RESULTS.md can say what limits a figure.
 *
 *     node bench/profile.mjs DIR/broker-http-produce [--top 25]
 *
 * A directory (one per process, as the benchmarks write them) is summarised file by file: Node
 * writes one profile per thread (CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; thread 0
 * is the main thread, the others are workers).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from './lib/cli.mjs'

const args = parseArgs()
const file = process.argv[2]
if (!file || file.startsWith('--')) {
  process.stderr.write('usage: node bench/profile.mjs FILE.cpuprofile [--top N]\n')
  process.exit(2)
}
const top = args.top ?? 25
const files = statSync(file).isDirectory()
  ? readdirSync(file)
      .filter((f) => f.endsWith('.cpuprofile'))
      .sort()
      .map((f) => join(file, f))
  : [file]
for (const f of files) summarise(f)

function summarise(file) {
  const profile = JSON.parse(readFileSync(file, 'utf8'))
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfTime = new Map()
  let total = 0
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0
    selfTime.set(id, (selfTime.get(id) ?? 0) + dt)
    total += dt
  })

  function where(url) {
    if (!url) return ''
    const nm = url.lastIndexOf('node_modules/')
    if (nm >= 0) {
      const rest = url.slice(nm + 'node_modules/'.length).split('/')
      return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]
    }
    if (url.startsWith('node:')) return url
    const dist = url.indexOf('/dist/')
    return dist >= 0 ? url.slice(dist + '/dist/'.length) : url.split('/').slice(-2).join('/')
  }

  const byFunction = new Map()
  const byFile = new Map()
  for (const [id, t] of selfTime) {
    const { functionName, url, lineNumber } = nodes.get(id).callFrame
    const place = where(url)
    const fn = `${functionName || '(anonymous)'}${place ? `  ${place}:${lineNumber + 1}` : ''}`
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + t)
    const key = place || functionName
    byFile.set(key, (byFile.get(key) ?? 0) + t)
  }
  const list = (m, n) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, t]) => `${((100 * t) / total).toFixed(1).padStart(5)}%  ${k}`)
      .join('\n')
  const busy = total - (byFunction.get('(idle)') ?? 0)
  const tid = /\.\d+\.(\d+)\.\d+\.cpuprofile$/.exec(file)?.[1]
  const thread = tid === undefined ? '' : tid === '0' ? ' (main thread)' : ` (worker thread ${tid})`
  process.stdout.write(
    `${file}${thread}: ${(total / 1e6).toFixed(2)} s sampled, ${((100 * busy) / total).toFixed(1)}% busy\n\n` +
      `self time by function\n${list(byFunction, top)}\n\nself time by file or package\n${list(byFile, 15)}\n`,
  )
}
