/**
 * The console's Brokers page on a real 3-broker cluster in chromium: every broker alive with the
 * controller marked; after a SIGKILL the dead broker shows as dead, the header says a broker is
 * down and the partitions it replicated show as under-replicated. The replication metrics agree:
 * ISR sizes before, under-replicated partitions and leader elections after.
 * Screenshots go to test/artifacts/console/ (git-ignored).
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { type Browser, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { MetricNames } from '../../src/metrics/broker-metrics.js'
import {
  createTopic,
  produceRetrying,
  startCluster,
  type TestCluster,
  waitForLeader,
  waitUntil,
} from '../helpers/cluster.js'
import { authHeaders, jsonRequest } from '../helpers/http.js'
import { parsePromText } from '../unit/metrics/prom-text.js'

const ARTIFACTS = join(import.meta.dirname, '../artifacts/console')
const TOPIC = 'replicated'

/**
 * The sum of a metric's samples that carry `labels`, over the given brokers; undefined when no
 * broker reports one (so 0 means a reported 0).
 */
async function sumOver(
  cluster: TestCluster,
  ids: number[],
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  let total: number | undefined
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`)
  for (const id of ids) {
    const parsed = parsePromText(
      await (await fetch(`${cluster.advertised(id)}/metrics`, { headers: authHeaders() })).text(),
    )
    for (const [key, value] of parsed.samples) {
      const family = key === name || key.startsWith(`${name}{`)
      if (family && wanted.every((w) => key.includes(w))) total = (total ?? 0) + value
    }
  }
  return total
}

describe('console on a cluster', () => {
  let cluster: TestCluster
  let browser: Browser

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true })
    // One replica per offsets partition: the under-replicated count is then the test topic's alone.
    cluster = await startCluster({ brokers: 3, args: ['--offsets-topic-replication-factor', '1'] })
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] })
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
    await cluster?.close()
  })

  test('a killed broker shows as dead and its partitions as under-replicated', async () => {
    const url = cluster.advertised(1)
    await createTopic(url, { name: TOPIC, partitions: 3, replicationFactor: 3 })
    for (const p of [0, 1, 2]) await waitForLeader(url, TOPIC, p)
    const { controller } = (await jsonRequest(`${url}/v1/cluster`, 'GET')).body as { controller: number }
    const victim = cluster.ids.find((id) => id !== 1 && id !== controller) as number

    // Every partition has its 3 replicas in sync, counted once (by its leader) over the cluster.
    await waitUntil(
      async () => (await sumOver(cluster, cluster.ids, MetricNames.partitionIsrSize, { topic: TOPIC })) === 9,
      20_000,
      'ISR sizes 3+3+3',
    )
    expect(await sumOver(cluster, cluster.ids, MetricNames.partitionReplicas, { topic: TOPIC })).toBe(9)
    expect(await sumOver(cluster, cluster.ids, MetricNames.underReplicatedPartitions)).toBe(0)
    const electionsBefore = await sumOver(cluster, cluster.ids, MetricNames.leaderElections)
    expect(electionsBefore).toBeGreaterThanOrEqual(3)

    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } })
    page.setDefaultTimeout(30_000)
    await page.goto(`${url}/console`)
    await page.click('nav button[data-tab="brokers"]')
    await waitUntil(
      async () => (await page.locator('#broker-list tr', { hasText: 'alive' }).count()) === 3,
      20_000,
      'three live brokers on the page',
    )
    const controllerRow = page.locator('#broker-list tr', { hasText: 'controller' })
    expect(await controllerRow.count()).toBe(1)
    expect((await controllerRow.locator('td').first().textContent())?.trim()).toBe(String(controller))
    await page.screenshot({ path: join(ARTIFACTS, 'cluster-1-healthy.png'), fullPage: true })

    await cluster.broker(victim).kill('SIGKILL')
    const victimRow = page.locator('#broker-list tr').nth(cluster.ids.indexOf(victim))
    await victimRow.locator('.tag.bad', { hasText: 'dead' }).waitFor()
    await page.locator('#cluster-status', { hasText: `1 broker down: ${victim}` }).waitFor()
    // The controller drops the dead broker from every ISR: all three partitions under-replicated.
    await page.locator('#partition-summary', { hasText: '3 under-replicated' }).waitFor()
    expect(await page.locator('#partitions tr.warn').count()).toBe(3)
    await page.screenshot({ path: join(ARTIFACTS, 'cluster-2-broker-dead.png'), fullPage: true })

    const live = cluster.ids.filter((id) => id !== victim)
    await waitUntil(
      async () => (await sumOver(cluster, live, MetricNames.underReplicatedPartitions)) === 3,
      20_000,
      'three under-replicated partitions in the metrics',
    )
    expect(await sumOver(cluster, live, MetricNames.partitionIsrSize, { topic: TOPIC })).toBe(6)

    // Records written without the dead follower: it is behind by exactly those, the others by none.
    const produced = await produceRetrying(url, TOPIC, 0, ['a', 'b', 'c', 'd', 'e'])
    expect(produced.status).toBe(200)
    const lagOf = (follower: number) =>
      sumOver(cluster, live, MetricNames.followerLag, {
        topic: TOPIC,
        partition: '0',
        follower: String(follower),
      })
    await waitUntil(async () => (await lagOf(victim)) === 5, 10_000, 'the dead follower 5 records behind')
    const leaderOf0 = (await jsonRequest(`${url}/v1/topics/${TOPIC}`, 'GET')).body.partitions[0]
      .leader as number
    const liveFollower = live.find((id) => id !== leaderOf0) as number
    await waitUntil(async () => (await lagOf(liveFollower)) === 0, 10_000, 'the live follower caught up')
    await page.close()
  }, 120_000)
})
