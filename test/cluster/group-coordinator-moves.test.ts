/**
 * Contract (issue 16): a group's coordinator is the leader of its `__consumer_offsets` partition, and
 * its membership lives there only, so when that leadership moves the members join the new
 * coordinator. With automatic preferred-leader elections the coordinator moves twice in quick
 * succession: away from its broker (SIGKILL, or the clean hand-over of a controlled shutdown), then
 * back once that broker returns in sync. For a client-library Consumer that awaits a manual commit of
 * every record while producers keep writing, both moves are invisible:
 *   - no `commit()` rejects and the iteration throws nothing (a commit refused by a coordinator
 *     that never knew the member is sent again after the consumer joined it, since the
 *     partitions came back to it);
 *   - every record of every partition is delivered, with the value written at its offset;
 *   - no record is delivered again: each was committed before the next one was taken, so a
 *     redelivery could only be of a committed record (the count of duplicates is exactly the count
 *     of deliveries at offsets below what was confirmed committed: none);
 *   - the group's committed offsets end at the log ends.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { partitionForKey } from '../../src/broker/partition-placement.js'
import { BrokerClient } from '../../src/client/broker-client.js'
import { Consumer } from '../../src/client/consumer.js'
import { wirePackr } from '../../src/wire/record-codec.js'
import {
  createTopic,
  describePartition,
  produceRetrying,
  readSettled,
  startCluster,
  type TestCluster,
  waitForLeader,
  waitUntil,
} from '../helpers/cluster.js'
import { testCredentials } from '../helpers/http.js'

const PARTITIONS = 3
const BATCH = 10
const OFFSETS_PARTITIONS = 8

interface Delivery {
  partition: number
  offset: number
  value: unknown
  /** The offset confirmed committed on the partition when the record was delivered. */
  confirmedBefore: number
}

// Found a bug of issue 16: on a busy machine a coordinator that had just restarted reset a group's
// position to the log start when its own replica of the partition was still behind the committed
// offset ("past the end"), handing out committed records again (fixed in group-fetch.ts,
// `#knowsLogEnd`; unit test test/unit/broker/groups/group-position.test.ts).
describe('a consumer group whose coordinator moves away and back (automatic preferred-leader elections)', () => {
  let cluster: TestCluster

  beforeAll(async () => {
    // Elections every second, so the returning broker takes its partitions back at once.
    cluster = await startCluster({ brokers: 3, args: ['--leader-rebalance-interval-ms', '1000'] })
  })

  afterAll(async () => {
    await cluster?.close()
  })

  async function scenario(topic: string, group: string, signal: 'SIGKILL' | 'SIGTERM') {
    const urls = cluster.ids.map((id) => cluster.advertised(id))
    await createTopic(urls[0] as string, { name: topic, partitions: PARTITIONS, replicationFactor: 3 })
    for (let p = 0; p < PARTITIONS; p++) await waitForLeader(urls[0] as string, topic, p)
    const offsetsPartition = partitionForKey(wirePackr.pack(group), OFFSETS_PARTITIONS)
    // The coordinator is the offsets partition's preferred replica, so an election brings it back.
    const before = await waitUntil(
      async () => {
        const view = await waitForLeader(urls[0] as string, '__consumer_offsets', offsetsPartition)
        return view.leader === view.replicas[0] ? view : undefined
      },
      30_000,
      'the offsets partition led by its preferred replica',
    )
    const coordinator = before.leader
    const survivor = cluster.ids.find((id) => id !== coordinator) as number

    const client = new BrokerClient({
      urls,
      ...testCredentials(),
      retry: { maxElapsedMs: 60_000, maxAttempts: 60 },
    })
    const consumer = new Consumer(client, { group, topics: [topic], maxRecords: 20, sessionTimeoutMs: 6_000 })
    const joins: number[] = []
    consumer.on('join', ({ generation }) => joins.push(generation))
    await consumer.connect()

    const delivered: Delivery[] = []
    const confirmed = new Map<number, number>()
    // The truth, read once the writers stopped and the partitions settled.
    const logs = new Map<number, Map<number, unknown>>()
    const caughtUp = () => logs.size > 0 && [...logs].every(([p, log]) => (confirmed.get(p) ?? 0) >= log.size)
    const commitErrors: string[] = []
    const iterationErrors: unknown[] = []
    const written = () => delivered.length
    const reading = (async () => {
      try {
        for await (const record of consumer) {
          delivered.push({
            partition: record.partition,
            offset: record.offset,
            value: record.value,
            confirmedBefore: confirmed.get(record.partition) ?? 0,
          })
          try {
            await consumer.commit(record)
            const next = record.offset + 1
            confirmed.set(record.partition, Math.max(confirmed.get(record.partition) ?? 0, next))
          } catch (err) {
            commitErrors.push(
              `${record.partition}:${record.offset} ${(err as { code?: string }).code ?? err}`,
            )
          }
          if (caughtUp()) break
        }
      } catch (err) {
        iterationErrors.push(err)
      }
    })()

    // Writers keep going until both moves are over, so the consumer reads and commits through them.
    let stopWriting = false
    const sent = new Map<number, number>()
    const writing = (async () => {
      for (let round = 0; !stopWriting || round < 3; round++) {
        for (let p = 0; p < PARTITIONS; p++) {
          const base = sent.get(p) ?? 0
          const values = Array.from({ length: BATCH }, (_, k) => ({ p, i: base + k }))
          const { leader } = await waitForLeader(cluster.advertised(survivor), topic, p)
          const res = await produceRetrying(cluster.advertised(leader), topic, p, values, { retryMs: 60_000 })
          // A refused write (acks=all while the dead broker is still in the ISR) is written again; the
          // checks compare deliveries with what the log holds, whatever landed.
          if (res.status === 200) sent.set(p, base + BATCH)
        }
        await new Promise((r) => setTimeout(r, 50))
      }
    })()

    await waitUntil(() => written() >= 100, 60_000, '100 records delivered before the move', 50)
    // Move 1: the coordinator goes (killed, or handing its partitions over as it shuts down).
    await cluster.broker(coordinator).kill(signal)
    const away = await waitForLeader(cluster.advertised(survivor), '__consumer_offsets', offsetsPartition, {
      not: coordinator,
    })
    // Move 2: it comes back, and the election gives it the offsets partition again.
    await cluster.restart(coordinator)
    const back = await waitUntil(
      async () => {
        const view = await describePartition(
          cluster.advertised(survivor),
          '__consumer_offsets',
          offsetsPartition,
        )
        return view.leader === coordinator ? view : undefined
      },
      60_000,
      `the offsets partition back on broker ${coordinator}`,
      100,
    )
    const deliveredWhenBack = written()
    await waitUntil(
      () => written() >= deliveredWhenBack + 50,
      60_000,
      '50 records delivered after the moves',
      50,
    )
    stopWriting = true
    await writing

    // What the partitions hold once settled (a repeated produce may have landed twice).
    const settled = new Map<number, Map<number, unknown>>()
    for (let p = 0; p < PARTITIONS; p++) {
      const records = await readSettled(cluster, topic, p)
      settled.set(p, new Map(records.map((r) => [r.offset, r.value])))
    }
    for (const [p, log] of settled) logs.set(p, log)
    await waitUntil(caughtUp, 60_000, 'every record committed by the consumer', 100)
    // Ends a poll that found nothing: the loop above breaks at its next record, or now.
    await consumer.close()
    await reading

    expect(away.leader).not.toBe(coordinator)
    expect(back.leader).toBe(coordinator)
    // The consumer did lose its membership (the coordinator changed) and joined again.
    expect(joins.length).toBeGreaterThanOrEqual(2)
    expect(iterationErrors).toEqual([])
    expect(commitErrors).toEqual([])
    for (const [p, log] of logs) {
      const mine = delivered.filter((d) => d.partition === p)
      expect(new Set(mine.map((d) => d.offset)).size, `partition ${p}`).toBe(log.size)
      for (const d of mine) expect(d.value, `${p}:${d.offset}`).toEqual(log.get(d.offset))
      // Redelivered records: only those not yet committed when delivered again (here none).
      const redelivered = mine.filter((d) => d.offset < d.confirmedBefore)
      expect(redelivered, `partition ${p}`).toEqual([])
      expect(mine.length, `partition ${p}: deliveries`).toBe(log.size)
    }
    const final = await client.groupOffsets(group)
    expect(final.map((o) => [o.partition, o.committed])).toEqual([...logs].map(([p, log]) => [p, log.size]))
    await client.close()
  }

  test('coordinator killed with SIGKILL, then taken back by the restarted broker: no commit error, no duplicate', async () => {
    await scenario('moves-after-kill', 'movers-kill', 'SIGKILL')
  }, 300_000)

  test('coordinator handed over cleanly (controlled shutdown), then taken back: no commit error, no duplicate', async () => {
    await scenario('moves-after-shutdown', 'movers-shutdown', 'SIGTERM')
  }, 300_000)
})
