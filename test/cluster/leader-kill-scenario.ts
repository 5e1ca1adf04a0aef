/**
 * The leader-kill scenario, shared by leader-kill.test.ts (plain http) and
 * integration/tls/cluster-tls.test.ts (the same over https between brokers and clients).
 *
 * Contract: three brokers, replication factor 3. A producer (the client library, idempotent,
 * acks=all) writes without pause; the partition's leader is killed with SIGKILL. The controller
 * elects an in-sync follower with a new epoch, the client follows NOT_LEADER / the dead connection
 * and keeps writing, and afterwards:
 *   - every confirmed record is in the log exactly once, at the offset it was confirmed with, and
 *     confirmed records are in send order;
 *   - no record is in the log twice (retries across the failover were idempotent);
 *   - the two surviving replicas are byte-identical up to the high watermark (segment bytes).
 */
import { expect } from 'vitest'
import { BrokerClient, type ClientOptions } from '../../src/client/broker-client.js'
import type { ProducerOptions } from '../../src/client/producer.js'
import {
  bytesBelow,
  createTopic,
  describePartition,
  logBytes,
  readAll,
  type TestCluster,
  waitForLeader,
  waitUntil,
} from '../helpers/cluster.js'
import { expectExactlyOnceInOrder, produceContinuously } from '../helpers/continuous-producer.js'
import { testCredentials } from '../helpers/http.js'

export async function leaderKillUnderWrites(
  cluster: TestCluster,
  topic: string,
  clientOptions: Omit<ClientOptions, 'urls' | 'retry'> = {},
  producerOptions: ProducerOptions = { acks: 'all' },
): Promise<void> {
  const bootstrap = cluster.ids.map((id) => cluster.advertised(id))
  await createTopic(bootstrap[0] as string, { name: topic, partitions: 1, replicationFactor: 3 })
  const first = await waitForLeader(bootstrap[0] as string, topic, 0)
  for (const id of cluster.ids) await waitForLeader(cluster.advertised(id), topic, 0)

  const client = new BrokerClient({
    ...testCredentials(),
    ...clientOptions,
    urls: bootstrap,
    retry: { maxElapsedMs: 60_000, maxAttempts: 30 },
  })
  const writer = produceContinuously(client, topic, producerOptions)
  const { confirmed, failures } = writer

  await waitUntil(() => confirmed.length >= 300, 30_000, '300 confirmed records before the kill')
  const beforeKill = confirmed.length
  await cluster.broker(first.leader).kill('SIGKILL')
  const survivors = cluster.ids.filter((id) => id !== first.leader)
  const next = await waitForLeader(cluster.advertised(survivors[0] as number), topic, 0, {
    not: first.leader,
    timeoutMs: 30_000,
  })
  expect(survivors).toContain(next.leader)
  await waitUntil(
    () => confirmed.length >= beforeKill + 300,
    60_000,
    '300 more confirmed records after the kill',
  )
  await writer.stop()
  await client.close()

  expect(failures).toEqual([])
  const leaderUrl = cluster.advertised(next.leader)
  const log = await readAll(leaderUrl, topic, 0)
  expectExactlyOnceInOrder(log, confirmed)

  // Quiescent: both survivors at the same log end and high watermark, then compare the bytes.
  const hw = await waitUntil(
    async () => {
      const views = await Promise.all(
        survivors.map((id) => describePartition(cluster.advertised(id), topic, 0)),
      )
      const [a, b] = views as [typeof next, typeof next]
      const leaderView = views.find((v) => v.leader === next.leader) ?? a
      return a.logEndOffset === b.logEndOffset &&
        leaderView.highWatermark === leaderView.logEndOffset &&
        a.highWatermark === b.highWatermark
        ? leaderView.highWatermark
        : undefined
    },
    20_000,
    'the survivors to converge',
  )
  expect(hw).toBe(log.length)
  const [x, y] = survivors.map((id) => bytesBelow(logBytes(cluster.broker(id).dataDir, topic, 0), hw)) as [
    Buffer,
    Buffer,
  ]
  expect(x.length).toBeGreaterThan(0)
  expect(x.equals(y)).toBe(true)
}
