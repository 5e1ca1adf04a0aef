/**
 * A reader at the tail of one partition, in process (no HTTP): each round appends one batch of one
 * 100 B record and reads it back as a consumer that keeps up does (offset = the new batch, up to
 * the log end, maxRecords 500, maxBytes 1 MiB). Compares the partition log keeping its newest
 * batches in memory (the default, RECENT_BATCH_BYTES) with reading every fetch from the file
 * (`recentBatchBytes: 0`, the log before issue 13's third pass), interleaved rounds, medians:
 * µs of CPU per read and bytes allocated per read (V8 heap + external buffers).
 *
 *     npm run build && node bench/micro/tail-read.mjs [--reads 50000] [--rounds 5]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { log, parseArgs } from '../lib/cli.mjs'
import { DIST } from '../lib/proc.mjs'

const opts = parseArgs()
const reads = opts.reads ?? 50_000
const rounds = opts.rounds ?? 5
const { PartitionLog } = await import(`${DIST}/src/storage/partition-log.js`)
const { buildBatch } = await import(`${DIST}/src/storage/record-batch.js`)
const config = {
  segmentBytes: 1024 * 1024 * 1024,
  segmentMs: 7 * 24 * 3600 * 1000,
  retentionMs: -1,
  retentionBytes: -1,
  indexIntervalBytes: 4096,
}
const value = Buffer.alloc(100, 0x61)

/** CPU µs and allocated bytes per tail read, appends not counted. */
async function measure(recentBatchBytes) {
  const dir = mkdtempSync(join(tmpdir(), 'strata-tail-read-'))
  const partition = await PartitionLog.open(dir, { ...config, recentBatchBytes })
  try {
    let cpuUs = 0
    let allocated = 0
    for (let i = 0; i < reads; i++) {
      const info = partition.append(buildBatch({ records: [value], firstTimestamp: Date.now() }))
      const heapBefore = process.memoryUsage()
      const before = process.cpuUsage()
      const batches = partition.read(info.baseOffset, 1 << 20, partition.logEndOffset, 500)
      const used = process.cpuUsage(before)
      const heapAfter = process.memoryUsage()
      cpuUs += used.user + used.system
      const grown =
        heapAfter.heapUsed - heapBefore.heapUsed + heapAfter.arrayBuffers - heapBefore.arrayBuffers
      if (grown > 0) allocated += grown
      if (batches.length !== 1) throw new Error(`read ${batches.length} batches at ${info.baseOffset}`)
    }
    return { cpuUs: cpuUs / reads, bytes: allocated / reads }
  } finally {
    await partition.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

log(
  `load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}; ${reads} reads × ${rounds} rounds`,
)
const results = { memory: [], file: [] }
await measure(0) // warm-up: both paths compiled before the first measured round
for (let r = 0; r < rounds; r++) {
  results.memory.push(await measure(undefined))
  results.file.push(await measure(0))
}
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const out = Object.fromEntries(
  Object.entries(results).map(([k, rs]) => [
    k,
    {
      cpuUsPerRead: +median(rs.map((x) => x.cpuUs)).toFixed(2),
      bytesPerRead: Math.round(median(rs.map((x) => x.bytes))),
    },
  ]),
)
log(JSON.stringify(out))
log(
  `load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
)
