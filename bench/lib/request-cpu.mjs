/** CPU time of a process (and of its main thread) from /proc, and a fixed number of requests from autocannon. */
import { readFileSync } from 'node:fs'
import autocannon from 'autocannon'

const CLK_TCK = 100

function ticks(path) {
  const f = readFileSync(path, 'utf8')
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12]) // utime + stime
}

/** Milliseconds of CPU so far: the whole process, and its main thread (thread id = pid). */
export function processCpuMs(pid) {
  return {
    process: (ticks(`/proc/${pid}/stat`) * 1000) / CLK_TCK,
    main: (ticks(`/proc/${pid}/task/${pid}/stat`) * 1000) / CLK_TCK,
  }
}

/** POSTs `body` to `url` exactly `amount` times over `connections` connections; resolves with autocannon's result. */
export function cannonRequests(url, { body, type, connections = 50, amount }) {
  return new Promise((resolve, reject) => {
    const i = autocannon({
      url,
      method: 'POST',
      headers: { 'content-type': type },
      body,
      connections,
      amount,
    })
    i.once('done', resolve)
    i.once('error', reject)
  })
}
