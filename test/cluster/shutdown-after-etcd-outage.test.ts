/**
 * Contract (issue 11, item 13): a clean shutdown (SIGTERM) always finishes, whatever etcd went
 * through. After etcd was killed (by PID) and restarted, every retry loop the outage started
 * (lease re-grants, watch reconnects, re-registration) must stop on close, so the process exits by
 * itself with code 0 instead of hanging until SIGKILL. With etcd still down, close gives up on etcd
 * (bounded calls) and exits too. `--shutdown-timeout-ms` is the backstop: past it the broker logs
 * what was pending and exits with code 1, so exit code 0 here means close() really finished and
 * nothing kept the process alive.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { ProcessExit } from '../helpers/broker-process.js'
import {
  createTopic,
  produceRetrying,
  startCluster,
  type TestCluster,
  waitForLeader,
  waitUntil,
} from '../helpers/cluster.js'
import { jsonRequest } from '../helpers/http.js'

const TOPIC = 'outage-then-shutdown'
const SHUTDOWN_TIMEOUT_MS = 15_000
/** The backstop alone would end the process at SHUTDOWN_TIMEOUT_MS, with code 1. */
const EXIT_BOUND_MS = SHUTDOWN_TIMEOUT_MS + 5_000

async function readyz(url: string): Promise<number> {
  return (await jsonRequest(`${url}/readyz`, 'GET').catch(() => ({ status: 0 }))).status
}

async function exitWithin(exited: Promise<ProcessExit>, ms: number): Promise<ProcessExit | 'still running'> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'still running'>((resolve) => {
    timer = setTimeout(() => resolve('still running'), ms)
  })
  const t0 = Date.now()
  const outcome = await Promise.race([exited, late])
  console.log(`exited ${Date.now() - t0} ms after SIGTERM: ${JSON.stringify(outcome)}`)
  clearTimeout(timer)
  return outcome
}

describe('13: shutdown after an etcd outage finishes', () => {
  let cluster: TestCluster

  beforeAll(async () => {
    cluster = await startCluster({
      brokers: 3,
      args: ['--shutdown-timeout-ms', String(SHUTDOWN_TIMEOUT_MS)],
    })
  })

  afterAll(async () => {
    await cluster?.close()
  })

  test('13: after etcd was down and came back, SIGTERM exits with code 0', async () => {
    await createTopic(cluster.advertised(1), { name: TOPIC, partitions: 3, replicationFactor: 3 })
    for (let p = 0; p < 3; p++) {
      const { leader } = await waitForLeader(cluster.advertised(1), TOPIC, p)
      expect((await produceRetrying(cluster.advertised(leader), TOPIC, p, [p])).status).toBe(200)
    }

    await cluster.etcd.kill('SIGKILL')
    // Down long enough for every lease to lapse and every retry loop to start.
    for (const id of cluster.ids) {
      await waitUntil(
        async () => (await readyz(cluster.advertised(id))) === 503,
        15_000,
        `broker ${id} to lose its lease`,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    cluster.etcd = await cluster.etcd.restart()
    for (const id of cluster.ids) {
      await waitUntil(
        async () => (await readyz(cluster.advertised(id))) === 200,
        60_000,
        `broker ${id} to be ready again`,
      )
    }
    for (let p = 0; p < 3; p++) await waitForLeader(cluster.advertised(1), TOPIC, p)

    const broker = cluster.broker(3)
    process.kill(broker.pid, 'SIGTERM')
    const outcome = await exitWithin(broker.exited, EXIT_BOUND_MS)
    expect(outcome, broker.stderr().slice(-4000)).toEqual({ code: 0, signal: null })
  })

  test('13: SIGTERM while etcd is still down exits with code 0 within the grace period', async () => {
    await cluster.etcd.kill('SIGKILL')
    await waitUntil(
      async () => (await readyz(cluster.advertised(1))) === 503,
      15_000,
      'broker 1 to lose its lease',
    )

    const broker = cluster.broker(1)
    process.kill(broker.pid, 'SIGTERM')
    const outcome = await exitWithin(broker.exited, EXIT_BOUND_MS)
    expect(outcome, broker.stderr().slice(-4000)).toEqual({ code: 0, signal: null })
  })
})
