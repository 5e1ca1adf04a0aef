/**
 * Runs the leader-kill scenario (leader-kill-scenario.ts) on a plain-http cluster: with the
 * producer's defaults, and with batches of 4 records so that several full batches are in flight
 * on the partition's pipelined connection when the leader dies.
 */
import { afterAll, beforeAll, describe, test } from 'vitest'
import { startCluster, type TestCluster } from '../helpers/cluster.js'
import { leaderKillUnderWrites } from './leader-kill-scenario.js'

describe('kill -9 of the leader under continuous acks=all writes', () => {
  let cluster: TestCluster

  beforeAll(async () => {
    cluster = await startCluster({ brokers: 3 })
  })

  afterAll(async () => {
    await cluster?.close()
  })

  test('writes continue through a new leader; confirmed records exactly once, in order; replicas identical', async () => {
    await leaderKillUnderWrites(cluster, 'orders-failover')
  })
})

describe('kill -9 of the leader with several batches in flight', () => {
  let cluster: TestCluster

  beforeAll(async () => {
    cluster = await startCluster({ brokers: 3 })
  })

  afterAll(async () => {
    await cluster?.close()
  })

  test('the in-flight batches are resent oldest first: confirmed records exactly once, in order; replicas identical', async () => {
    await leaderKillUnderWrites(
      cluster,
      'orders-pipelined',
      {},
      { acks: 'all', maxBatchRecords: 4, maxInFlight: 5 },
    )
  })
})
