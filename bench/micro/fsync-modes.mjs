/**
 * What one small acks=all append costs at this disk, three ways: write(200 B) + fdatasync on a file
 * that grows (as segments do), on a pre-zeroed region (what a preallocating log would do), and on a
 * sparse region (ftruncate, no data blocks yet). One in flight at a time; latency of the
 * fdatasync as the event loop sees it (libuv pool hop included). Run it with UV_USE_IO_URING=1 to
 * compare libuv's io_uring path (off by default in Node 20).
 *
 *     node bench/micro/fsync-modes.mjs [--count 3000] [--dir DIR]
 */
import fs from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { log, parseArgs } from '../lib/cli.mjs'

const opts = parseArgs()
const count = opts.count ?? 3000
const dir = opts.dir ?? tmpdir()
const size = 200

function run(mode) {
  const path = join(dir, `strata-fsync-modes-${process.pid}-${mode}.bin`)
  const fd = fs.openSync(path, 'w+')
  if (mode === 'pre-zeroed') {
    fs.writeSync(fd, Buffer.alloc(count * size + 4096))
    fs.fsyncSync(fd)
  }
  if (mode === 'sparse') {
    fs.ftruncateSync(fd, count * size + 4096)
    fs.fsyncSync(fd)
  }
  const buf = Buffer.alloc(size, 1)
  const lat = []
  return new Promise((resolve, reject) => {
    let i = 0
    const step = () => {
      if (i >= count) {
        fs.closeSync(fd)
        fs.unlinkSync(path)
        lat.sort((a, b) => a - b)
        const at = (q) => +(lat[Math.floor(q * lat.length)] ?? 0).toFixed(3)
        resolve({
          p50: at(0.5),
          p90: at(0.9),
          p99: at(0.99),
          mean: +(lat.reduce((a, b) => a + b, 0) / lat.length).toFixed(3),
        })
        return
      }
      fs.writeSync(fd, buf, 0, size, i * size)
      i++
      const t = performance.now()
      fs.fdatasync(fd, (err) => {
        if (err) return reject(err)
        lat.push(performance.now() - t)
        setImmediate(step)
      })
    }
    step()
  })
}

log(
  `load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}; UV_USE_IO_URING=${process.env.UV_USE_IO_URING ?? '(unset)'}`,
)
for (const mode of ['append', 'pre-zeroed', 'sparse']) {
  const before = process.cpuUsage()
  const r = await run(mode)
  const cpu = process.cpuUsage(before)
  log(
    `${mode.padEnd(10)} fdatasync ms ${JSON.stringify(r)}, process CPU ${((cpu.user + cpu.system) / count).toFixed(1)} µs a round`,
  )
}
