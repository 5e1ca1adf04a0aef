/**
 * Scenario scripts run on their own (`node bench/e2e/latency.mjs --rate 5000`) or as children of
 * bench/run.js, which passes `--out FILE` and reads the JSON result from it.
 */
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** `--key value` / `--flag` pairs into an object (numbers parsed). */
export function parseArgs(argv = process.argv.slice(2)) {
  const out = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) continue
    const key = a.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase())
    const next = argv[i + 1]
    if (next === undefined || next.startsWith('--')) out[key] = true
    else {
      out[key] = /^-?\d+(\.\d+)?$/.test(next) ? Number(next) : next
      i++
    }
  }
  return out
}

export function isMain(metaUrl) {
  return process.argv[1] === fileURLToPath(metaUrl)
}

/** Runs a scenario as a script: its result goes to --out as JSON, or to stdout. */
export async function scenarioMain(metaUrl, run) {
  if (!isMain(metaUrl)) return
  const args = parseArgs()
  try {
    const result = await run(args)
    const json = JSON.stringify(result, null, 2)
    if (args.out) writeFileSync(args.out, json)
    else process.stdout.write(`${json}\n`)
    process.exit(0)
  } catch (err) {
    process.stderr.write(`${err.stack ?? err}\n`)
    process.exit(1)
  }
}

/** Progress lines go to stderr so stdout stays the result. */
export function log(...parts) {
  process.stderr.write(`${parts.join(' ')}\n`)
}
